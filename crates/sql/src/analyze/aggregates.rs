//! Recognises each aggregate of the query: its kind, its row-level argument
//! (with the bounds and ε-share markers of the dialect removed), its bounds
//! and weight.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::AggregateFunction;

use super::Tables;
use super::allowlist::{Position, check_expr};
use crate::aggregate::{AggCall, Call, literal_f64, recognise};
use crate::catalog::{Catalog, MAX_BOUND};
use crate::error::{Result, rejected};
use crate::options::Mechanism;
use crate::udf::{BOUNDS_UDF_NAME, SHARE_UDF_NAME};

/// A number as people write it: `1e300` rather than 301 digits.
pub(crate) fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e16 || x.abs() < 1e-6) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The largest relative ε share accepted for one aggregate.
pub(crate) const MAX_SHARE: f64 = 1e6;

/// Splits `privagg_share(x, w)` into `x` and its weight (1 without marker).
/// Splits `privagg_share(x, w[, 'm'])` into `x`, its weight (1 without
/// marker) and its own mechanism (`mechanism => 'laplace' | 'gaussian'`).
fn strip_share(arg: &Expr) -> Result<(Expr, f64, Option<Mechanism>)> {
    let inner = match arg {
        Expr::Cast(c) => &*c.expr,
        other => other,
    };
    if let Expr::ScalarFunction(f) = inner
        && f.func.name() == SHARE_UDF_NAME
    {
        let (x, w, m) = match f.args.as_slice() {
            [x, w] => (x, w, None),
            [x, w, m] => (x, w, Some(m)),
            _ => return Err(rejected("epsilon_share takes one number")),
        };
        let mechanism = match m.map(strip_casts) {
            None => None,
            Some(Expr::Literal(ScalarValue::Utf8(Some(text)), _)) => match Mechanism::parse(text) {
                Some(Mechanism::Auto) | None => {
                    return Err(rejected(format!(
                        "mechanism => '{text}': an aggregate's mechanism is 'laplace' or 'gaussian'"
                    )));
                }
                known => known,
            },
            Some(other) => {
                return Err(rejected(format!(
                    "mechanism => {}: write 'laplace' or 'gaussian' (a string literal)",
                    other.human_display()
                )));
            }
        };
        return match literal_f64(w) {
            Some(w) if w.is_finite() && w > 0.0 && w <= MAX_SHARE => Ok((x.clone(), w, mechanism)),
            _ => Err(rejected(format!(
                "epsilon_share => {} must be a number literal > 0 and <= 1e6 (a relative weight)",
                w.human_display()
            ))),
        };
    }
    Ok((arg.clone(), 1.0, None))
}

/// Splits `privagg_bounds(x, lo, hi)` into `x` and its bounds.
/// An aggregate's value, its explicit bounds and whether they are per row.
type Bounded = (Expr, Option<(f64, f64)>, bool);

fn strip_bounds(arg: &Expr) -> Result<Bounded> {
    let inner = match arg {
        Expr::Cast(c) => &*c.expr,
        other => other,
    };
    if let Expr::ScalarFunction(f) = inner
        && f.func.name() == BOUNDS_UDF_NAME
    {
        let (x, lo, hi, per_row) = match f.args.as_slice() {
            [x, lo, hi] => (x, lo, hi, false),
            [x, lo, hi, Expr::Literal(ScalarValue::Utf8(Some(m)), _)]
                if m == crate::named_args::PER_ROW =>
            {
                (x, lo, hi, true)
            }
            _ => return Err(rejected("bounds take two values: (lower, upper)")),
        };
        let (Some(lo), Some(hi)) = (literal_f64(lo), literal_f64(hi)) else {
            return Err(rejected("contribution bounds must be number literals"));
        };
        if lo.abs().max(hi.abs()) > MAX_BOUND {
            return Err(rejected(format!(
                "contribution bounds ({}, {}) must be within ±1e15",
                number(lo),
                number(hi)
            )));
        }
        if !(lo.is_finite() && hi.is_finite()) || lo > hi {
            return Err(rejected(format!(
                "contribution bounds ({lo}, {hi}) must be finite with lower <= upper"
            )));
        }
        let x = match x {
            Expr::Cast(c) => (*c.expr).clone(),
            other => other.clone(),
        };
        return Ok((x, Some((lo, hi)), per_row));
    }
    Ok((arg.clone(), None, false))
}

/// Catalog bounds of a bare column of a private table.
fn catalog_bounds(value: &Expr, catalog: &Catalog) -> Option<(f64, f64)> {
    let Expr::Column(c) = strip_casts(value) else {
        return None;
    };
    catalog.tables.iter().find_map(|t| {
        let cfg = t.columns.get(&c.name)?;
        Some((cfg.lower?, cfg.upper?))
    })
}

/// `e` without the casts around it.
pub(crate) fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        other => other,
    }
}

/// Describes one aggregate expression of the aggregation node. `is_unit`
/// tells whether a column of the aggregation's input is a privacy unit.
pub(crate) fn describe_aggregate(
    expr: &Expr,
    catalog: &Catalog,
    is_unit: &dyn Fn(&Column) -> bool,
    tables: &Tables,
) -> Result<AggCall> {
    let inner = match expr {
        Expr::Alias(a) => &*a.expr,
        other => other,
    };
    let mut label = inner.human_display().to_string();
    let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
        return Err(rejected(format!("{label} is not an aggregate")));
    };
    let name = func.name().to_lowercase();
    if params.filter.is_some() {
        return Err(rejected(format!(
            "FILTER (WHERE ...) on {} is not supported: put the condition in WHERE",
            name.to_uppercase()
        )));
    }
    if !params.order_by.is_empty() {
        return Err(rejected(format!("ORDER BY inside {name} is not supported")));
    }
    let first = params.args.first();
    let (value, explicit, per_row, weight, mechanism) = match first {
        Some(a) => {
            let (a, weight, mechanism) = strip_share(a)?;
            let (v, b, per_row) = strip_bounds(&a)?;
            (Some(v), b, per_row, weight, mechanism)
        }
        None => (None, None, false, 1.0, None),
    };
    if weight != 1.0
        && let Some(v) = &value
    {
        let shown = match v {
            Expr::Literal(..) => "*".to_string(),
            other => other.human_display().to_string(),
        };
        let distinct = if params.distinct { "DISTINCT " } else { "" };
        label = format!("{}({distinct}{shown})", name.to_uppercase());
    }
    if let (Some(v), Some((lo, hi))) = (&value, explicit) {
        label = format!(
            "{}({}, {}, {}{})",
            name.to_uppercase(),
            v.human_display(),
            number(lo),
            number(hi),
            if per_row { " per row" } else { "" }
        );
    }
    let call = Call {
        name: &name,
        distinct: params.distinct,
        value: value.as_ref(),
        value_is_unit: matches!(&value, Some(Expr::Column(c)) if is_unit(c)),
        args: &params.args,
        per_row_bounds: per_row,
    };
    let aggregate = match recognise(&call) {
        Some(recognised) => recognised?,
        None => return Err(unsupported(&name)),
    };
    if params.distinct && !aggregate.distinct() {
        return Err(rejected(format!(
            "DISTINCT inside {} is not supported",
            name.to_uppercase()
        )));
    }
    let needs_bounds = aggregate.needs_bounds();
    let bounds = explicit.or_else(|| value.as_ref().and_then(|v| catalog_bounds(v, catalog)));
    if needs_bounds && bounds.is_none() {
        let what = value
            .as_ref()
            .map(|v| v.human_display().to_string())
            .unwrap_or_default();
        return Err(rejected(format!(
            "{label} needs bounds: declare lower and upper for the column under [tables.columns.<column>] in the catalog, or write {}({what}, contribution_bounds_per_group => (lower, upper))",
            name.to_uppercase()
        )));
    }
    if let Some(v) = &value {
        check_expr(v, Position::Row, "an aggregate argument", tables)?;
    }
    Ok(AggCall {
        mechanism,
        aggregate,
        value,
        bounds,
        label,
        weight,
    })
}

/// Why an aggregate no module recognises is refused, with what to use instead.
fn unsupported(name: &str) -> crate::error::SqlError {
    match name {
        "min" | "max" => rejected(format!(
            "{} is not supported: it depends on a single customer; use PERCENTILE_CONT(x, {}) for a robust extreme",
            name.to_uppercase(),
            if name == "min" { "0.05" } else { "0.95" }
        )),
        "var" | "var_samp" | "var_sample" | "stddev_samp" => rejected(
            "sample variance and deviation (VAR_SAMP, STDDEV_SAMP) are not supported: use VAR_POP / STDDEV_POP (VARIANCE and STDDEV mean those in privagg)",
        ),
        other => rejected(format!(
            "aggregate {} is not supported: use COUNT, SUM, AVG, VAR_POP, STDDEV, PERCENTILE_CONT or MEDIAN",
            other.to_uppercase()
        )),
    }
}
