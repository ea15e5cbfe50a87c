//! The `privagg` binary, tested as a process: every command, on generated
//! data and on the CSVs in ../shared/data.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod audit;
mod catalog;
mod common;
mod concurrency;
mod demo;
mod export;
mod html;
mod ledger;
mod newcomer;
mod output;
mod query;
mod reliability;
mod serve_kill;
