//! `xtask`: the everyday binary (`cargo xtask ...`).

fn main() -> std::process::ExitCode {
    stagecraft::cli::main()
}
