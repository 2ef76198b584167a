//! Stagecraft's everyday core: what `cargo xtask shell|env|run|list|task`
//! needs, and what every other command builds on. No HTTP, TLS, archive
//! or progress-bar crate is reachable from here (the `stagecraft` crate has
//! those); docs/architecture.md maps every module.
//!
//! Plumbing: `config` (the files' schema), `repo` (the repository),
//! `process` (child processes), `fsx` (files), `ui` (output), `quote`,
//! `suggest`, `user_env`. Domains: `stage` (environments, shells, fan-out),
//! `cluster` (how a stage reaches a cluster), `tasks`. The command line:
//! `cli` (every command's arguments; the everyday commands' output) and
//! `complete`.

pub mod affected;
pub mod cli;
pub mod cluster;
pub mod complete;
pub mod config;
pub mod fsx;
pub mod ignore_rules;
pub mod instance;
pub mod pins;
pub mod process;
pub mod quote;
pub mod repo;
pub mod stage;
pub mod suggest;
pub mod tasks;
pub mod ui;
pub mod user_env;
