//! The one error type of `privagg-noise`.

use thiserror::Error;

/// Everything that can go wrong when building or running a mechanism.
///
/// Every variant is decided from public parameters only (privacy parameters,
/// bounds, scales, confidence levels): no variant ever depends on private data,
/// so an error can be shown to an analyst without leaking anything.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A privacy or noise parameter is outside its valid range.
    #[error("invalid {name}: {value} ({reason})")]
    InvalidParameter {
        /// Which parameter (`epsilon`, `delta`, `rho`, `sensitivity`, ...).
        name: &'static str,
        /// The value as given.
        value: String,
        /// What the valid range is, and how to fix it.
        reason: &'static str,
    },
    /// A value given to a mechanism is not a number.
    #[error("value is NaN: treat NaN as NULL before noising (drop or impute it)")]
    NotANumber,
    /// The public bounds of a release cannot be represented exactly on the noise grid.
    #[error(
        "values up to {bound} cannot be represented exactly on the noise grid 2^{grid_exponent}: \
         narrow the clamping bounds or use a larger epsilon"
    )]
    NotRepresentable {
        /// The largest absolute value the caller declared.
        bound: f64,
        /// The exponent k of the grid 2^k.
        grid_exponent: i32,
    },
    /// Arithmetic left the exact range of the sampler (never happens for
    /// validated parameters; reported instead of panicking).
    #[error("exact sampler overflow: {0}")]
    Overflow(&'static str),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, NoiseError>;

pub(crate) fn invalid(
    name: &'static str,
    value: impl ToString,
    reason: &'static str,
) -> NoiseError {
    NoiseError::InvalidParameter {
        name,
        value: value.to_string(),
        reason,
    }
}
