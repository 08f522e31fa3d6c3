//! The `doudi` binary's library part: the benchmarks. Every use case they
//! and the command line need comes from `doudi_app`; `doudi_web` is used
//! only to build and serve the router.

pub mod bench;
/// The demo district (re-exported for the binary, benches and tests).
pub use doudi_app::demo as setup;
