//! Apps and their releases in a stage: the app model and the release
//! graph (`model`), where a release comes from (`source`: a chart,
//! fetched and pinned by `charts`; a kustomization or manifests, applied
//! with an inventory by `applied`), what helm gets (`values`, `helm`,
//! `provenance` for `app values`), the built images in any manifest
//! (`rewrite`), deploys (`deploy`, watched by `readiness`), the other
//! release commands (`releases`, finding pods through `objects`), and
//! images.

pub mod applied;
pub mod charts;
pub mod deploy;
pub mod dev;
pub mod drift;
pub mod graph;
pub mod helm;
pub mod images;
pub mod inputs;
pub mod intercept;
pub mod model;
pub mod objects;
pub mod pods;
pub mod promote;
pub mod provenance;
pub mod readiness;
pub mod registry;
pub mod releases;
pub mod rewrite;
pub mod source;
pub mod tags;
pub mod values;
