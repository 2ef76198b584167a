//! The one integration test binary: runs the real `xtask` binary in temp
//! copies of an example monorepo.

mod support;
mod tmux;

mod apps;
mod architecture;
mod cargo_xtask;
mod cluster;
mod deps;
mod env;
mod errors;
mod gateway;
mod hardening;
mod http;
mod prompts;
mod run;
mod shell;
mod snapshots;
mod stage_env;
mod tasks;
mod ux;
mod wrong_cluster;
