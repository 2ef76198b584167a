//! A stage as users enter it: its environment (the layered variables and
//! the built-ins), the user's own shell started in it, one command in
//! several stages at once, the confirmation of protected stages, the
//! hostnames its apps are routed by and the namespaces they run in.

pub mod confirm;
pub mod environment;
pub mod fanout;
pub mod namespaces;
pub mod routes;
pub mod shells;
