//! `xtask`: the light binary `cargo xtask ...` runs. The everyday commands
//! run here; the others are handed over to the `stagecraft` binary.

mod handoff;

fn main() -> std::process::ExitCode {
    stagecraft_core::cli::main(&handoff::Handoff)
}
