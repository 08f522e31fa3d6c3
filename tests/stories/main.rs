//! The story tests, as one test binary (one link of the dependency tree
//! instead of one per file): each story runs through the router on SQLite
//! and on PostgreSQL (`on_both_backends!`), the browser stories in headless
//! Chromium, and schemathesis against the OpenAPI document.
//!
//! Fixtures are built with `support::TestApp` (the demo district plus
//! builders such as `token_for`, `household_in`, `apply`).

#[macro_use]
mod support;
mod webdriver;

mod api;
mod api_fuzz;
mod backup;
mod browser;
mod cases;
mod crash;
mod departments;
mod households;
mod imports;
mod jobs;
mod monitoring;
mod policies;
mod refusals;
mod security;
mod webdriver_selfcheck;
