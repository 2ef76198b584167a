//! The one integration test binary: runs the real `xtask` binary in temp
//! copies of an example monorepo.

mod support;
mod tmux;

mod adopt;
mod applied;
mod apps;
mod apps_day_two;
mod architecture;
mod cargo_xtask;
mod chart_sources;
mod cluster;
mod cluster_lifecycle;
mod deps;
mod deps_pins;
mod drift_promote;
mod env;
mod env_scope;
mod errors;
mod first_hour;
mod gateway;
mod hardening;
mod hardening_inputs;
mod hardening_second;
mod http;
mod https;
mod instances;
mod only_what_changed;
mod prompts;
mod prompts_doctor;
mod prompts_upstream;
mod run;
mod shared_chart;
mod shell;
mod snapshots;
mod stage_env;
mod stage_env_deploy;
mod tasks;
mod tasks_examples;
mod ux;
mod wrong_cluster;
