//! Pure domain model of doudi (社会救助): identity numbers, region codes,
//! money, masking, people, households, access rules and the working-day
//! calendar.
//!
//! This crate does no I/O. Reference data (administrative division codes,
//! official holiday arrangements) is embedded at compile time so that every
//! caller validates against exactly the same tables.

pub mod access;
pub mod attachment;
pub mod benefits;
pub mod calendar;
pub mod grading;
pub mod household;
pub mod id_number;
pub mod mask;
pub mod money;
pub mod person;
pub mod region;
pub mod workflow;

pub use id_number::IdNumber;
pub use money::Money;
pub use person::Coded;
pub use region::{RegionCode, RegionLevel};
