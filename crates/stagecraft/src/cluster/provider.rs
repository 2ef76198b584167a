//! What a stage provider does to its clusters: each provider (`kind.rs`,
//! `remote.rs`) implements [`Operations`] beside what the core's
//! `Provider` says it can do.

use anyhow::Result;

use super::context::{Cx, Operation};
use super::status::Status;
use super::target::Target;
use crate::tools::toolbox::Tool;

/// The operations of a stage provider.
pub trait Operations: Sync {
    /// Makes the cluster ready, step by step, each step skipped when done.
    fn bootstrap(&self, cx: &Cx) -> Result<()>;
    /// Whether it exists and is ready.
    fn status(&self, cx: &Cx) -> Result<Status>;
    /// Deletes the cluster (providers that create them).
    fn delete(&self, cx: &Cx) -> Result<()>;
    /// Where this stage's images are pushed, given the app's `REGISTRY`.
    fn registry(&self, target: &Target, registry_var: Option<&str>) -> Result<String>;
    /// The tools an operation runs: each asks for exactly what it needs.
    fn tools(&self, operation: Operation) -> &'static [Tool];
}
