//! The `doudi` application: wiring shared by the binary, the benchmarks and the tests.

pub mod bench;
pub mod setup;
