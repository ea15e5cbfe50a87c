//! DataFusion expressions the aggregates' bounded partials are made of.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, ScalarUDF, lit, try_cast, when};

use crate::error::{Result, SqlError, rejected};
use crate::udf::{Cap, LATTICE_TYPE, ToLattice};

/// A privagg scalar function applied to `args`.
pub(super) fn call(
    udf: impl datafusion::logical_expr::ScalarUDFImpl + 'static,
    args: Vec<Expr>,
) -> Expr {
    Arc::new(ScalarUDF::from(udf)).call(args)
}

/// A plan-building error, cleaned of DataFusion's noise.
pub(super) fn fail(e: datafusion::error::DataFusionError) -> SqlError {
    rejected(crate::messages::engine_message(&e.to_string()))
}

/// An exact lattice integer literal.
pub(super) fn decimal(v: i128) -> Expr {
    lit(ScalarValue::Decimal128(Some(v), 38, 0))
}

/// `privagg_to_lattice(TRY_CAST(x AS DOUBLE), lo, hi, offset, exponent, power)`.
pub(super) fn lattice(x: &Expr, lo: f64, hi: f64, offset: f64, exponent: i32, power: i64) -> Expr {
    call(
        ToLattice::new(),
        vec![
            try_cast(x.clone(), DataType::Float64),
            lit(lo),
            lit(hi),
            lit(offset),
            lit(i64::from(exponent)),
            lit(power),
        ],
    )
}

/// 1 where `e` is not NULL, else 0.
pub(super) fn present(e: Expr) -> Result<Expr> {
    when(e.is_not_null(), lit(1i64))
        .otherwise(lit(0i64))
        .map_err(fail)
}

/// 1 where `x` has a value on the lattice, else 0: where `TRY_CAST(x AS
/// DOUBLE)` is neither NULL nor NaN — exactly where [`lattice`] of `x` is not
/// NULL, whatever the bounds, without converting the value.
pub(super) fn lattice_present(x: &Expr) -> Result<Expr> {
    let v = try_cast(x.clone(), DataType::Float64);
    let nan = datafusion::functions::math::expr_fn::isnan(v.clone());
    when(v.is_not_null().and(nan.is_false()), lit(1i64))
        .otherwise(lit(0i64))
        .map_err(fail)
}

/// `min(v, cap)`.
pub(super) fn least(v: Expr, cap: i64) -> Expr {
    when(v.clone().gt(lit(cap)), lit(cap))
        .otherwise(v)
        .unwrap_or_else(|_| lit(cap))
}

/// `privagg_cap(v, n, max_rows, mode)`: a unit's partial sum `v` over `n`
/// rows scaled to at most `max_rows` rows' worth (mode 0 rounds, 1 floors).
pub(super) fn cap(v: Expr, n: Expr, max_rows: u32, mode: i64) -> Expr {
    call(
        Cap::new(),
        vec![
            try_cast(v, LATTICE_TYPE),
            n,
            lit(i64::from(max_rows)),
            lit(mode),
        ],
    )
}

/// The number a literal (possibly cast or negated) stands for.
pub(crate) fn literal_f64(e: &Expr) -> Option<f64> {
    match e {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(x) => x,
            _ => None,
        },
        Expr::Cast(c) => literal_f64(&c.expr),
        Expr::TryCast(c) => literal_f64(&c.expr),
        Expr::Negative(inner) => literal_f64(inner).map(|x| -x),
        _ => None,
    }
}
