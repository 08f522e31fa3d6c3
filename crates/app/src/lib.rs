//! doudi-app: every use case of doudi, as a function of the database, the
//! caller and a typed input, returning a typed result or one [`Error`].
//! Pages, the API, the command line, benches and scheduled jobs all call
//! these functions; none of them holds a use case of its own.
//!
//! Layers (one way): domain ← rules ← store ← app ← web ← bin.
//! - [`access`] — the one jurisdiction rule for reads by id;
//! - [`registry`] — the one walk over the registry;
//! - [`error`] — the one application error, and which layer returns what.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod caller;
pub mod cases;
pub mod demo;
pub mod demo_history;
pub mod departments;
pub mod error;
pub mod households;
pub mod imports;
pub mod jobs;
pub mod monitoring;
pub mod policies;
pub mod regions;
pub mod registry;

pub use caller::Caller;
pub use error::{Error, FieldError, Result};
