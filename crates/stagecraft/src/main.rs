//! `stagecraft`: every command (`cargo xtask` hands the operations over to
//! this binary; `cargo install --path crates/stagecraft` installs it).

fn main() -> std::process::ExitCode {
    // helm's post-renderer (the app's images into a chart's manifests).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == stagecraft::app::rewrite::POST_RENDER)
    {
        return match stagecraft::app::rewrite::post_render(&args[2..]) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                stagecraft_core::ui::print_error(&e);
                std::process::ExitCode::FAILURE
            }
        };
    }
    stagecraft_core::cli::main(&stagecraft::cli::Full)
}
