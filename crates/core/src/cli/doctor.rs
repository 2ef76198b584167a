use std::path::PathBuf;

use clap::Args;

use super::Json;

/// Check this machine and repository, and say how to fix what is wrong.
#[derive(Args)]
#[command(after_long_help = "Examples:
  cargo xtask doctor
  cargo xtask doctor --json | jq '.[] | select(.ok | not)'")]
pub struct DoctorArgs {
    #[command(flatten)]
    pub json: Json,
    /// The hosts file to check (default: $XTASK_HOSTS_FILE, else /etc/hosts).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
}
