//! `stagecraft`: every command (`cargo xtask` hands the operations over to
//! this binary; `cargo install --path crates/stagecraft` installs it).

fn main() -> std::process::ExitCode {
    stagecraft_core::cli::main(&stagecraft::cli::Full)
}
