//! Stagecraft, the whole program: the everyday commands of
//! `stagecraft_core` and the operations (pinned tools, clusters, apps,
//! deploys). The `stagecraft` binary runs every command; the light `xtask`
//! binary hands these over to it. docs/architecture.md maps every module.
//!
//! Domains: `adopt` (`init repo`: an existing repository's charts,
//! kustomizations, manifests and Dockerfiles), `app` (releases, values,
//! deploys, images), `cluster`
//! (bootstrap, status, identity, the Gateway, the hosts file), `tools`
//! (pinned tools and the one seam per tool), `doctor`, `init`, `up`,
//! `vars`. Plumbing: `download` (HTTP), `pty`, `sha` (SHA-256 and HMAC), `tomlx`, `x509` (a local
//! CA's certificates). The command line's
//! output for these commands: `cli`.

pub mod adopt;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod doctor;
pub mod download;
pub mod gitindex;
pub mod init;
pub mod pty;
pub mod sha;
pub mod tomlx;
pub mod tools;
pub mod up;
pub mod vars;
pub mod x509;
