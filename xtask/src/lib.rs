//! Stagecraft: `cargo xtask` for a monorepo of services deployed to stages.
//!
//! The everyday modules (stages, environments, shells, processes) build
//! without the `ops` feature; downloads, clusters, apps and deploys need
//! it. docs/architecture.md maps every module.

// Without `ops`, what only the operations use is unused: that is the point
// of the light build, not dead code (the full build is linted for that).
#![cfg_attr(not(feature = "ops"), allow(dead_code, unused_imports))]

pub mod cli;

mod complete;
mod config;
mod confirm;
mod environment;
mod fanout;
mod fsx;
#[cfg(not(feature = "ops"))]
mod handoff;
mod kube;
mod process;
mod quote;
mod repo;
mod routes;
mod shells;
mod suggest;
mod tasks;
pub mod ui;
mod user_env;

mod cluster;

#[cfg(feature = "ops")]
mod apps;
#[cfg(feature = "ops")]
mod deploy;
#[cfg(feature = "ops")]
mod doctor;
#[cfg(feature = "ops")]
mod download;
#[cfg(feature = "ops")]
mod helm_record;
#[cfg(feature = "ops")]
mod hosts;
#[cfg(feature = "ops")]
mod images;
#[cfg(feature = "ops")]
mod init;
#[cfg(feature = "ops")]
mod provenance;
#[cfg(feature = "ops")]
pub mod pty;
#[cfg(feature = "ops")]
mod readiness;
#[cfg(feature = "ops")]
mod releases;
#[cfg(feature = "ops")]
mod tomlx;
#[cfg(feature = "ops")]
mod toolbox;
#[cfg(feature = "ops")]
mod tools;
#[cfg(feature = "ops")]
mod up;
#[cfg(feature = "ops")]
mod values;
#[cfg(feature = "ops")]
mod vars;
