//! privagg's per-aggregate arguments, on the parsed AST (no text
//! rewriting): `SUM(x, contribution_bounds_per_group => (0, 100))` or
//! `SUM(x, 0, 100)` become `SUM(privagg_bounds(x, 0, 100))`;
//! `epsilon_share => w` and `mechanism => 'm'` become
//! `privagg_share(<value>, w[, 'm'])` around the value argument; `VARIANCE`
//! and `STDDEV` are the population statistics (`var_pop`, `stddev_pop`).
//! The analysis reads the markers back (`crate::analyze`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, Value, visit_expressions_mut,
};

use crate::error::{Result, SqlError};
use crate::udf::{BOUNDS_UDF_NAME, SHARE_UDF_NAME};

/// Aggregates that accept explicit bounds, with how many ordinary arguments come first.
const BOUNDED_AGGREGATES: [(&str, usize); 8] = [
    ("sum", 1),
    ("avg", 1),
    ("var_pop", 1),
    ("variance", 1),
    ("stddev", 1),
    ("stddev_pop", 1),
    ("percentile_cont", 2),
    ("median", 1),
];

fn invalid(message: impl Into<String>) -> SqlError {
    SqlError::InvalidSql(message.into())
}

/// Rewrites every aggregate call of `statement` in place.
///
/// # Errors
/// [`SqlError::InvalidSql`] for malformed bounds, shares or mechanisms.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    match visit_expressions_mut(statement, |expr| match expr {
        Expr::Function(f) => match rewrite_call(f) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        },
        _ => ControlFlow::Continue(()),
    }) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn simple_call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(datafusion::sql::sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn rewrite_call(f: &mut Function) -> Result<()> {
    let [ObjectNamePart::Identifier(ident)] = f.name.0.as_mut_slice() else {
        return Ok(());
    };
    let name = ident.value.to_lowercase();
    let bounded = BOUNDED_AGGREGATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, leading)| *leading);
    if bounded.is_none() && name != "count" {
        return Ok(());
    }
    match name.as_str() {
        "variance" => ident.value = "var_pop".into(),
        "stddev" => ident.value = "stddev_pop".into(),
        _ => {}
    }
    let FunctionArguments::List(list) = &mut f.args else {
        return Ok(());
    };
    let (share, mechanism) = take_share(&mut list.args)?;
    if let Some(leading) = bounded
        && let Some((lo, hi, per_row)) = take_bounds(&mut list.args, leading)?
        && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(value))) = list.args.first_mut()
    {
        let x = std::mem::replace(value, Expr::value(Value::Null));
        let mut args = vec![x, lo, hi];
        // Only SUM's meaning changes: the other aggregates clamp every value anyway.
        if per_row && name == "sum" {
            args.push(Expr::value(Value::SingleQuotedString(PER_ROW.into())));
        }
        *value = simple_call(BOUNDS_UDF_NAME, args);
    }
    if share.is_some() || mechanism.is_some() {
        let weight = share.unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
        let Some(first) = list.args.first_mut() else {
            return Err(invalid("epsilon_share needs an aggregate argument"));
        };
        let value = match first {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                std::mem::replace(e, Expr::value(Value::Null))
            }
            // COUNT(*) counts privagg_share(1, w).
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {
                Expr::value(Value::Number("1".into(), false))
            }
            _ => return Err(invalid("epsilon_share needs an aggregate argument")),
        };
        let mut marker = vec![value, weight];
        marker.extend(mechanism);
        *first = FunctionArg::Unnamed(FunctionArgExpr::Expr(simple_call(SHARE_UDF_NAME, marker)));
    }
    Ok(())
}

/// A named argument's name and value.
fn named(arg: &FunctionArg) -> Option<(String, &Expr)> {
    match arg {
        FunctionArg::Named {
            name,
            arg: FunctionArgExpr::Expr(e),
            ..
        } => Some((name.value.to_lowercase(), e)),
        FunctionArg::ExprNamed {
            name: Expr::Identifier(name),
            arg: FunctionArgExpr::Expr(e),
            ..
        } => Some((name.value.to_lowercase(), e)),
        _ => None,
    }
}

/// Removes `epsilon_share => w` and `mechanism => 'm'`; returns `w` and `'m'`.
fn take_share(args: &mut Vec<FunctionArg>) -> Result<(Option<Expr>, Option<Expr>)> {
    let (mut share, mut mechanism) = (None, None);
    let mut kept = Vec::with_capacity(args.len());
    for arg in args.drain(..) {
        let slot = match named(&arg) {
            Some((n, _)) if n == "epsilon_share" => &mut share,
            Some((n, _)) if n == "mechanism" => &mut mechanism,
            _ => {
                kept.push(arg);
                continue;
            }
        };
        if let Some((n, value)) = named(&arg) {
            if slot.is_some() {
                return Err(invalid(format!("{n} is given twice in one aggregate")));
            }
            *slot = Some(value.clone());
        }
    }
    *args = kept;
    Ok((share, mechanism))
}

/// The fourth argument of `privagg_bounds` for per-row bounds.
pub(crate) const PER_ROW: &str = "per_row";

/// Removes the bounds after the `leading` ordinary arguments:
/// `contribution_bounds_per_group => (lo, hi)` or `lo, hi` (per group), or
/// `contribution_bounds_per_row => (lo, hi)` (per row: `true`). `None`
/// without bounds (or with a wrong arity, which DataFusion reports).
fn take_bounds(args: &mut Vec<FunctionArg>, leading: usize) -> Result<Option<(Expr, Expr, bool)>> {
    let bounds = match &args[leading.min(args.len())..] {
        [] => return Ok(None),
        [arg] if named(arg).is_some() => {
            let Some((name, value)) = named(arg) else {
                return Ok(None);
            };
            if name != "contribution_bounds_per_group" && name != "contribution_bounds_per_row" {
                return Err(invalid(format!(
                    "unknown named argument `{name}`: use contribution_bounds_per_group => (lower, upper)"
                )));
            }
            let pair = match value {
                Expr::Tuple(items) => items.clone(),
                Expr::Nested(inner) => vec![(**inner).clone()],
                _ => {
                    return Err(invalid(format!(
                        "`{name}` takes a pair: {name} => (lower, upper)"
                    )));
                }
            };
            match <[Expr; 2]>::try_from(pair) {
                Ok([lo, hi]) => (lo, hi, name == "contribution_bounds_per_row"),
                Err(_) => {
                    return Err(invalid(format!(
                        "`{name}` takes exactly two bounds: (lower, upper)"
                    )));
                }
            }
        }
        [
            FunctionArg::Unnamed(FunctionArgExpr::Expr(lo)),
            FunctionArg::Unnamed(FunctionArgExpr::Expr(hi)),
        ] => (lo.clone(), hi.clone(), false),
        _ => return Ok(None),
    };
    args.truncate(leading);
    Ok(Some(bounds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::{DFParser, Statement as DfStatement};

    fn rewritten(sql: &str) -> Result<String> {
        let mut parsed = DFParser::parse_sql(sql).expect("parses");
        let Some(DfStatement::Statement(mut statement)) = parsed.pop_front() else {
            panic!("not a statement");
        };
        rewrite(&mut statement)?;
        Ok(statement.to_string())
    }

    #[test]
    fn bounds_become_markers() {
        assert_eq!(
            rewritten(
                "SELECT SUM(spend, contribution_bounds_per_group => (0, 100)), AVG(spend, 0, 50), SUM(spend) FROM t"
            )
            .expect("ok"),
            "SELECT SUM(privagg_bounds(spend, 0, 100)), AVG(privagg_bounds(spend, 0, 50)), SUM(spend) FROM t"
        );
        assert_eq!(
            rewritten("SELECT PERCENTILE_CONT(age, 0.5, 0, 100) FROM t").expect("ok"),
            "SELECT PERCENTILE_CONT(privagg_bounds(age, 0, 100), 0.5) FROM t"
        );
        let err = rewritten("SELECT SUM(x, bounds => (0, 1)) FROM t").expect_err("unknown");
        assert!(
            err.to_string().contains("unknown named argument `bounds`"),
            "{err}"
        );
        let err = rewritten("SELECT SUM(x, contribution_bounds_per_group => 5) FROM t")
            .expect_err("not a pair");
        assert!(err.to_string().contains("takes a pair"), "{err}");
        let err = rewritten("SELECT SUM(x, contribution_bounds_per_group => (1, 2, 3)) FROM t")
            .expect_err("three");
        assert!(err.to_string().contains("exactly two bounds"), "{err}");
    }

    #[test]
    fn shares_and_mechanisms_wrap_the_value() {
        assert_eq!(
            rewritten(
                "SELECT COUNT(DISTINCT pid, epsilon_share => 2), COUNT(*, epsilon_share => 0.5), \
                 SUM(x, 0, 9, mechanism => 'gaussian') FROM t"
            )
            .expect("ok"),
            "SELECT COUNT(DISTINCT privagg_share(pid, 2)), COUNT(privagg_share(1, 0.5)), \
             SUM(privagg_share(privagg_bounds(x, 0, 9), 1, 'gaussian')) FROM t"
        );
        let err = rewritten("SELECT SUM(x, epsilon_share => 1, epsilon_share => 2) FROM t")
            .expect_err("twice");
        assert!(err.to_string().contains("given twice"), "{err}");
    }

    #[test]
    fn variance_and_stddev_are_population_statistics() {
        assert_eq!(
            rewritten("SELECT VARIANCE(x), stddev(x, 0, 9), variance_col FROM t").expect("ok"),
            "SELECT var_pop(x), stddev_pop(privagg_bounds(x, 0, 9)), variance_col FROM t"
        );
    }
}
