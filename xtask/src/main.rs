//! Stagecraft: `cargo xtask` for a monorepo of services deployed to stages.
//! This file only parses the command line and dispatches.

mod apps;
mod cli;
mod cluster;
mod complete;
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "__complete") {
        return ExitCode::from(complete::run(&args[2..]) as u8);
    }
    let cli = cli::Cli::parse_from(args);
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
