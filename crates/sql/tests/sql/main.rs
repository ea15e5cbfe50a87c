//! Integration tests of privagg-sql through its public API (one binary).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod architecture;
mod bad_input;
mod common;
mod corpus;
mod datasets;
mod declared_schema;
mod explain;
mod fused;
mod gaussian;
mod medians;
mod reliability_fuzz;
mod reliability_mutations;
mod reliability_sql;
mod selection;
mod smoke;
mod utility;
