//! # privagg for Python (`import privagg`)
//!
//! The engine and its session API as a Python extension module
//! (`privagg._privagg`, wrapped by the `privagg` package): connect to a
//! catalog as an analyst, run DP queries whose releases are Arrow streams
//! (`__arrow_c_stream__`, so pyarrow, pandas, polars and DuckDB read them),
//! explain them without a charge, read budgets, verify the audit log and run
//! export jobs. The budget is the same durable ledger the CLI charges; there
//! is no seed and no way to get un-noised values. Guide: `docs/python.md`.

mod errors;
mod local;
mod register;
mod release;
mod runtime;
mod session;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _privagg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::Session>()?;
    m.add_class::<release::Release>()?;
    m.add_function(wrap_pyfunction!(session::connect, m)?)?;
    m.add_function(wrap_pyfunction!(local::session, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)
}
