//! Apps and their releases in a stage: the app model and the release
//! graph (`model`), what helm gets (`values`, `provenance` for `app
//! values`), deploys (`deploy`, watched by `readiness`, skipped by
//! `helm_record`), the other release commands (`releases`), and images.

pub mod deploy;
pub mod images;
pub mod model;
pub mod provenance;
pub mod readiness;
pub mod releases;
pub mod values;
