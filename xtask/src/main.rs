//! Stagecraft: `cargo xtask` for a monorepo of services deployed to stages.
//! This file only parses the command line and dispatches.

mod apps;
mod cli;
mod cluster;
mod config;
mod download;
mod environment;
mod hosts;
mod process;
mod repo;
mod shells;
mod suggest;
mod tools;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    ui::set_level(cli.global.quiet, cli.global.verbose);
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<cli::Exit>() {
            Some(exit) => ExitCode::from(exit.0),
            None => {
                cli::print_error(&err);
                ExitCode::FAILURE
            }
        },
    }
}
