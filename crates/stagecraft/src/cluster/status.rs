//! What `cluster status` reports.

use serde::Serialize;
use stagecraft_core::config::Target as Kind;

use super::gateway::GatewayStatus;
use super::identity;

#[derive(Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    pub stage: String,
    pub target: Kind,
    pub exists: bool,
    pub nodes_ready: Option<String>,
    /// The stage's Gateway, when it routes with one and the cluster has it.
    pub gateway: Option<GatewayStatus>,
    /// None for providers without a local registry.
    pub registry_up: Option<bool>,
    /// The one-context kubeconfig tools get, and where it comes from.
    pub kubeconfig: String,
    pub source: String,
    pub context: String,
    /// The cluster on record and the one the kubeconfig reaches.
    pub identity: Option<identity::Report>,
}
