//! `xtask-ops`: the commands that download, build and deploy, handed over
//! by the light `xtask` binary.

fn main() -> std::process::ExitCode {
    stagecraft::cli::main()
}
