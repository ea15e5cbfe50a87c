//! Semantic analysis of a planned query: finds the one aggregation, checks
//! that everything below it is row-level (filters, projections, joins with
//! public tables, sub-queries without aggregation), threads the privacy unit
//! through to the aggregation's input, and describes each aggregate.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection};

use crate::catalog::Catalog;
use crate::error::{Result, rejected};
use crate::register::Views;
use crate::udf::{BOUNDS_UDF_NAME, SHARE_UDF_NAME};

/// The name of the privacy-unit column threaded through the input plan.
pub(crate) const UNIT: &str = "__privagg_unit";

/// What an aggregate computes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AggKind {
    /// `COUNT(*)`: rows, at most L∞ per unit and group.
    CountRows,
    /// `COUNT(col)`: non-NULL values.
    CountValues,
    /// `COUNT(DISTINCT <privacy unit>)`.
    CountUnits,
    /// `SUM(x)`: the unit's per-group total clamped to the bounds.
    Sum,
    /// `AVG(x)`.
    Mean,
    /// `VAR_POP(x)`.
    Variance,
    /// `STDDEV_POP(x)`.
    StdDev,
    /// `PERCENTILE_CONT(x, p)` / `MEDIAN(x)`.
    Percentile(f64),
}

/// One aggregate of the query.
#[derive(Clone, Debug)]
pub(crate) struct AggCall {
    /// What it computes.
    pub kind: AggKind,
    /// Its row-level argument (bounds marker removed).
    pub value: Option<Expr>,
    /// Bounds: per-unit-per-group for SUM, per value otherwise.
    pub bounds: Option<(f64, f64)>,
    /// As written (for messages and metadata).
    pub label: String,
    /// Relative share of the query's ε (`epsilon_share => w`; 1 by default).
    pub weight: f64,
}

/// The analysed query.
pub(crate) struct Analysis {
    /// The analyst's whole plan (the aggregation is replaced at release).
    pub plan: LogicalPlan,
    /// Row-level input with the privacy unit threaded through as [`UNIT`].
    pub input: LogicalPlan,
    /// The unit column in `input`'s schema.
    pub unit: Column,
    /// Private tables read (catalog names).
    pub private_tables: Vec<String>,
    /// Group-key expressions over `input`.
    pub keys: Vec<Expr>,
    /// Public values of every key, when all keys are declared public.
    pub public_values: Option<Vec<Vec<ScalarValue>>>,
    /// The data type of each key.
    pub key_types: Vec<datafusion::arrow::datatypes::DataType>,
    /// The aggregates.
    pub aggregates: Vec<AggCall>,
}

/// Analyses a logical plan made from the analyst's SQL.
pub(crate) fn analyze(plan: LogicalPlan, catalog: &Catalog, views: &Views) -> Result<Analysis> {
    let aggregate = find_aggregate(&plan, views)?;
    check_above(&plan)?;
    let mut private_tables = Vec::new();
    check_input(&aggregate.input, catalog, views, &mut private_tables)?;
    if private_tables.is_empty() {
        return Err(rejected(
            "the query reads no private table: privagg answers aggregate queries over the private tables of its catalog",
        ));
    }
    private_tables.dedup();
    let input = thread_unit(aggregate.input.as_ref().clone(), catalog, views)?;
    let unit = input
        .schema()
        .columns()
        .into_iter()
        .find(|c| c.name == UNIT)
        .ok_or_else(|| {
            rejected("internal: the privacy unit could not be threaded through the query")
        })?;
    let input = filter_unit_not_null(input, &unit)?;
    let aggregates = aggregate
        .aggr_expr
        .iter()
        .map(|e| describe_aggregate(e, catalog))
        .collect::<Result<Vec<_>>>()?;
    if aggregates.is_empty() {
        return Err(rejected(
            "the query has GROUP BY but no aggregate: add COUNT(*) or another aggregate (group keys alone are released only with a statistic)",
        ));
    }
    let public_values = public_values(&aggregate.group_expr, &input, catalog)?;
    let key_types = aggregate
        .group_expr
        .iter()
        .map(|k| k.get_type(input.schema().as_ref()))
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(|e| rejected(e.to_string()))?;
    Ok(Analysis {
        keys: aggregate.group_expr.clone(),
        plan,
        input,
        unit,
        private_tables,
        public_values,
        key_types,
        aggregates,
    })
}

fn find_aggregate(plan: &LogicalPlan, views: &Views) -> Result<Aggregate> {
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Aggregate(a) => return Ok(a.clone()),
            LogicalPlan::Projection(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::SubqueryAlias(_) => match node.inputs().first() {
                Some(input) => node = input,
                None => break,
            },
            LogicalPlan::Window(_) => {
                return Err(rejected(
                    "window functions (OVER ...) are not supported: they release per-row values",
                ));
            }
            LogicalPlan::Distinct(_) => {
                return Err(rejected(
                    "SELECT DISTINCT is not supported: GROUP BY the columns to list their groups",
                ));
            }
            LogicalPlan::Union(_) => {
                return Err(rejected(
                    "UNION is not supported: run each SELECT as its own query",
                ));
            }
            _ => break,
        }
    }
    let mut reads_private = false;
    let _ = plan.apply(|n| {
        if let LogicalPlan::SubqueryAlias(a) = n
            && views.private_table(&a.input).is_some()
        {
            reads_private = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if !reads_private {
        return Err(rejected(NO_PRIVATE_TABLE));
    }
    Err(rejected(
        "the query returns rows of a private table: only aggregates (COUNT, SUM, AVG, VAR_POP, STDDEV, PERCENTILE_CONT, MEDIAN) grouped by keys can be released",
    ))
}

const NO_PRIVATE_TABLE: &str = "the query reads no private table: privagg answers aggregate queries over the private tables of its catalog";

/// Nodes above the aggregation may only filter, sort, limit and compute over released values.
fn check_above(plan: &LogicalPlan) -> Result<()> {
    let mut node = plan;
    while !matches!(node, LogicalPlan::Aggregate(_)) {
        for e in node.expressions() {
            check_expr_row_level(&e, "HAVING / ORDER BY / the select list")?;
        }
        match node.inputs().first() {
            Some(input) => node = input,
            None => break,
        }
    }
    Ok(())
}

/// No sub-queries or window functions inside expressions.
fn check_expr_row_level(expr: &Expr, place: &str) -> Result<()> {
    let mut problem = None;
    expr.apply(|e| {
        problem = match e {
            Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_) => Some(format!(
                "sub-queries in {place} are not supported: join the table instead"
            )),
            Expr::WindowFunction(_) => {
                Some("window functions (OVER ...) are not supported".to_string())
            }
            _ => None,
        };
        Ok(if problem.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .map_err(|e| rejected(e.to_string()))?;
    match problem {
        Some(p) => Err(rejected(p)),
        None => Ok(()),
    }
}

/// Everything below the aggregation must be row-level.
fn check_input(
    plan: &LogicalPlan,
    catalog: &Catalog,
    views: &Views,
    private: &mut Vec<String>,
) -> Result<()> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            // A catalog table, inlined by DataFusion as an alias over its view.
            if let Some(name) = views.private_table(&alias.input) {
                private.push(name.to_string());
                return Ok(());
            }
            if views.is_public(&alias.input) {
                return Ok(());
            }
        }
        LogicalPlan::TableScan(scan) => {
            return Err(rejected(format!(
                "table '{}' is not in the catalog",
                scan.table_name.table()
            )));
        }
        LogicalPlan::Aggregate(_) => {
            return Err(rejected(
                "aggregation in a sub-query is not supported: aggregate once, at the top level (per-unit pre-aggregation is done by privagg)",
            ));
        }
        LogicalPlan::Sort(_) => {
            return Err(rejected(
                "ORDER BY on private rows before aggregation is not supported: order the released results instead",
            ));
        }
        LogicalPlan::Limit(_) => {
            return Err(rejected(
                "LIMIT before aggregation is not supported: it selects rows by position; filter with WHERE instead",
            ));
        }
        LogicalPlan::Window(_) => {
            return Err(rejected("window functions (OVER ...) are not supported"));
        }
        LogicalPlan::Distinct(_) => {
            return Err(rejected("DISTINCT in a sub-query is not supported"));
        }
        LogicalPlan::Union(_) => {
            return Err(rejected(
                "UNION is not supported: run each SELECT as its own query",
            ));
        }
        LogicalPlan::Join(join) => {
            let mut left = Vec::new();
            let mut right = Vec::new();
            check_input(&join.left, catalog, views, &mut left)?;
            check_input(&join.right, catalog, views, &mut right)?;
            if !left.is_empty() && !right.is_empty() && !joins_on_unit(join, &left, &right, catalog)
            {
                return Err(rejected(format!(
                    "joining private tables '{}' and '{}' is only supported on their privacy units (JOIN ... ON a.<unit> = b.<unit>)",
                    left[0], right[0]
                )));
            }
            private.extend(left);
            private.extend(right);
            return Ok(());
        }
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Values(_)
        | LogicalPlan::EmptyRelation(_) => {}
        other => {
            return Err(rejected(format!(
                "this query shape is not supported ({})",
                other.display()
            )));
        }
    }
    for e in plan.expressions() {
        check_expr_row_level(&e, "WHERE or FROM")?;
        if let Some(agg) = first_aggregate(&e) {
            return Err(rejected(format!(
                "aggregate {agg} below the top level is not supported"
            )));
        }
    }
    for input in plan.inputs() {
        check_input(input, catalog, views, private)?;
    }
    Ok(())
}

fn first_aggregate(expr: &Expr) -> Option<String> {
    let mut found = None;
    let _ = expr.apply(|e| {
        if let Expr::AggregateFunction(f) = e {
            found = Some(f.func.name().to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn joins_on_unit(
    join: &datafusion::logical_expr::Join,
    left: &[String],
    right: &[String],
    catalog: &Catalog,
) -> bool {
    let unit_of = |tables: &[String]| -> Vec<String> {
        tables
            .iter()
            .filter_map(|t| catalog.table(t))
            .map(|t| t.privacy_unit.to_lowercase())
            .collect()
    };
    let (lu, ru) = (unit_of(left), unit_of(right));
    let is_unit_pair = |l: &Expr, r: &Expr| match (strip_casts(l), strip_casts(r)) {
        (Expr::Column(a), Expr::Column(b)) => {
            let (a, b) = (a.name.to_lowercase(), b.name.to_lowercase());
            (lu.contains(&a) && ru.contains(&b)) || (lu.contains(&b) && ru.contains(&a))
        }
        _ => false,
    };
    // Before optimisation the ON condition is still in `filter`: look there too.
    let in_filter = join.filter.as_ref().is_some_and(|f| {
        datafusion::logical_expr::utils::split_conjunction(f)
            .into_iter()
            .any(|c| match c {
                Expr::BinaryExpr(b) if b.op == datafusion::logical_expr::Operator::Eq => {
                    is_unit_pair(&b.left, &b.right)
                }
                _ => false,
            })
    });
    in_filter || join.on.iter().any(|(l, r)| is_unit_pair(l, r))
}

/// Adds the privacy unit as [`UNIT`] to every private scan and carries it
/// through every projection up to the aggregation's input.
fn thread_unit(input: LogicalPlan, catalog: &Catalog, views: &Views) -> Result<LogicalPlan> {
    input
        .transform_up(|node| match node {
            LogicalPlan::SubqueryAlias(ref alias)
                if views.private_table(&alias.input).is_some() =>
            {
                let name = views.private_table(&alias.input).unwrap_or_default();
                let Some(table) = catalog.table(name) else {
                    return Ok(Transformed::no(node));
                };
                let schema = Arc::clone(alias.input.schema());
                let _ = schema;
                let columns = node.schema().columns();
                let unit = columns
                    .iter()
                    .find(|c| c.name == table.privacy_unit)
                    .cloned()
                    .ok_or_else(|| {
                        datafusion::error::DataFusionError::Plan(format!(
                            "privacy unit of '{}' is not scanned",
                            table.name
                        ))
                    })?;
                let qualifier = unit.relation.clone();
                let mut exprs: Vec<Expr> = columns.into_iter().map(Expr::Column).collect();
                exprs.push(Expr::Column(unit).alias_qualified(qualifier, UNIT));
                let projection = Projection::try_new(exprs, Arc::new(node))?;
                Ok(Transformed::yes(LogicalPlan::Projection(projection)))
            }
            LogicalPlan::Projection(p) => {
                let outputs = p.schema.columns();
                let mut exprs = p.expr.clone();
                for c in p.input.schema().columns() {
                    if c.name == UNIT
                        && !outputs
                            .iter()
                            .any(|o| o.name == UNIT && o.relation == c.relation)
                    {
                        exprs.push(Expr::Column(c));
                    }
                }
                Ok(Transformed::yes(LogicalPlan::Projection(
                    Projection::try_new(exprs, p.input)?,
                )))
            }
            other => Ok(Transformed::yes(other.recompute_schema()?)),
        })
        .map(|t| t.data)
        .map_err(|e| rejected(crate::syntax::clean(&e.to_string())))
}

fn filter_unit_not_null(input: LogicalPlan, unit: &Column) -> Result<LogicalPlan> {
    datafusion::logical_expr::LogicalPlanBuilder::from(input)
        .filter(Expr::Column(unit.clone()).is_not_null())
        .and_then(|b| b.build())
        .map_err(|e| rejected(e.to_string()))
}

fn literal_f64(e: &Expr) -> Option<f64> {
    match e {
        Expr::Literal(v, _) => match v
            .cast_to(&datafusion::arrow::datatypes::DataType::Float64)
            .ok()?
        {
            ScalarValue::Float64(x) => x,
            _ => None,
        },
        Expr::Cast(c) => literal_f64(&c.expr),
        Expr::TryCast(c) => literal_f64(&c.expr),
        Expr::Negative(inner) => literal_f64(inner).map(|x| -x),
        _ => None,
    }
}

/// A number as people write it: `1e300` rather than 301 digits.
pub(crate) fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e16 || x.abs() < 1e-6) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The largest bound magnitude accepted (catalog and SQL alike).
pub(crate) const MAX_BOUND: f64 = 1e15;

/// The largest relative ε share accepted for one aggregate.
pub(crate) const MAX_SHARE: f64 = 1e6;

/// Splits `privagg_share(x, w)` into `x` and its weight (1 without marker).
fn strip_share(arg: &Expr) -> Result<(Expr, f64)> {
    let inner = match arg {
        Expr::Cast(c) => &*c.expr,
        other => other,
    };
    if let Expr::ScalarFunction(f) = inner
        && f.func.name() == SHARE_UDF_NAME
    {
        let [x, w] = f.args.as_slice() else {
            return Err(rejected("epsilon_share takes one number"));
        };
        return match literal_f64(w) {
            Some(w) if w.is_finite() && w > 0.0 && w <= MAX_SHARE => Ok((x.clone(), w)),
            _ => Err(rejected(format!(
                "epsilon_share => {} must be a number literal > 0 and <= 1e6 (a relative weight)",
                w.human_display()
            ))),
        };
    }
    Ok((arg.clone(), 1.0))
}

/// Splits `privagg_bounds(x, lo, hi)` into `x` and its bounds.
fn strip_bounds(arg: &Expr) -> Result<(Expr, Option<(f64, f64)>)> {
    let inner = match arg {
        Expr::Cast(c) => &*c.expr,
        other => other,
    };
    if let Expr::ScalarFunction(f) = inner
        && f.func.name() == BOUNDS_UDF_NAME
    {
        let [x, lo, hi] = f.args.as_slice() else {
            return Err(rejected("bounds take two values: (lower, upper)"));
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
        return Ok((x, Some((lo, hi))));
    }
    Ok((arg.clone(), None))
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

fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        other => other,
    }
}

fn is_unit_column(e: &Expr, catalog: &Catalog) -> bool {
    matches!(strip_casts(e), Expr::Column(c) if c.name == UNIT || catalog.tables.iter().any(|t| t.privacy_unit == c.name))
}

fn describe_aggregate(expr: &Expr, catalog: &Catalog) -> Result<AggCall> {
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
    let (value, explicit, weight) = match first {
        Some(a) => {
            let (a, weight) = strip_share(a)?;
            let (v, b) = strip_bounds(&a)?;
            (Some(v), b, weight)
        }
        None => (None, None, 1.0),
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
            "{}({}, {}, {})",
            name.to_uppercase(),
            v.human_display(),
            number(lo),
            number(hi)
        );
    }
    let kind = match name.as_str() {
        "count" => {
            let is_star = value
                .as_ref()
                .is_none_or(|v| matches!(v, Expr::Literal(..)));
            if params.distinct {
                match &value {
                    Some(v) if is_unit_column(v, catalog) => AggKind::CountUnits,
                    _ => {
                        return Err(rejected(
                            "COUNT(DISTINCT ...) is only supported on the privacy unit (it counts customers); use COUNT(*) or GROUP BY the column",
                        ));
                    }
                }
            } else if is_star {
                AggKind::CountRows
            } else {
                AggKind::CountValues
            }
        }
        "sum" => AggKind::Sum,
        "avg" | "mean" => AggKind::Mean,
        "var_pop" => AggKind::Variance,
        "stddev_pop" => AggKind::StdDev,
        "median" => AggKind::Percentile(0.5),
        "percentile_cont" | "quantile_cont" => {
            let p = params
                .args
                .get(1)
                .and_then(literal_f64)
                .filter(|p| (0.0..=1.0).contains(p));
            AggKind::Percentile(p.ok_or_else(|| {
                rejected("PERCENTILE_CONT(x, p) needs a literal p between 0 and 1")
            })?)
        }
        "min" | "max" => {
            return Err(rejected(format!(
                "{} is not supported: it depends on a single customer; use PERCENTILE_CONT(x, {}) for a robust extreme",
                name.to_uppercase(),
                if name == "min" { "0.05" } else { "0.95" }
            )));
        }
        "var" | "var_samp" | "var_sample" | "stddev_samp" => {
            return Err(rejected(
                "sample variance and deviation (VAR_SAMP, STDDEV_SAMP) are not supported: use VAR_POP / STDDEV_POP (VARIANCE and STDDEV mean those in privagg)",
            ));
        }
        other => {
            return Err(rejected(format!(
                "aggregate {} is not supported: use COUNT, SUM, AVG, VAR_POP, STDDEV, PERCENTILE_CONT or MEDIAN",
                other.to_uppercase()
            )));
        }
    };
    if params.distinct && kind != AggKind::CountUnits {
        return Err(rejected(format!(
            "DISTINCT inside {} is not supported",
            name.to_uppercase()
        )));
    }
    let needs_bounds = !matches!(
        kind,
        AggKind::CountRows | AggKind::CountValues | AggKind::CountUnits
    );
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
        check_expr_row_level(v, "an aggregate argument")?;
    }
    Ok(AggCall {
        kind,
        value,
        bounds,
        label,
        weight,
    })
}

/// Public values per key when every key is a column with declared public values.
fn public_values(
    keys: &[Expr],
    input: &LogicalPlan,
    catalog: &Catalog,
) -> Result<Option<Vec<Vec<ScalarValue>>>> {
    let schema = input.schema();
    let mut out = Vec::new();
    for k in keys {
        let Expr::Column(c) = strip_casts(k) else {
            return Ok(None);
        };
        let Some(values) = catalog
            .tables
            .iter()
            .find_map(|t| t.columns.get(&c.name)?.public_values.clone())
        else {
            return Ok(None);
        };
        let ty = k
            .get_type(schema.as_ref())
            .map_err(|e| rejected(e.to_string()))?;
        let mut typed = Vec::new();
        for v in values {
            let scalar = match &v {
                toml::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
                toml::Value::Integer(i) => ScalarValue::Int64(Some(*i)),
                toml::Value::Float(f) => ScalarValue::Float64(Some(*f)),
                toml::Value::Boolean(b) => ScalarValue::Boolean(Some(*b)),
                other => {
                    return Err(rejected(format!(
                        "public value {other} of column '{}' must be a string, number or boolean",
                        c.name
                    )));
                }
            };
            typed.push(scalar.cast_to(&ty).map_err(|_| {
                rejected(format!(
                    "public value {v} does not fit column '{}' of type {ty}",
                    c.name
                ))
            })?);
        }
        out.push(typed);
    }
    Ok(if keys.is_empty() { None } else { Some(out) })
}
