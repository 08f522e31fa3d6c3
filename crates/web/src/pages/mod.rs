//! Server-rendered pages, one module per capability. A page module parses
//! the request, calls `doudi_app`, and renders; no page module imports
//! another (shared rendering lives in `crate::render` and `crate::views`).

pub mod admin;
pub mod cases;
pub mod households;
pub mod imports;
pub mod monitoring;
pub mod policies;
