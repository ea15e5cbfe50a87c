//! Semantic analysis of a planned query: finds the one aggregation, checks
//! every node and expression slot against the allowlist of its position
//! ([`allowlist`]), checks that joins of private relations equate their unit
//! columns ([`lineage`]), describes each aggregate ([`aggregates`]), threads
//! the privacy unit through to the aggregation's input, and makes every row
//! expression total (`crate::total`).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Projection};

use crate::aggregate::AggCall;
use crate::catalog::Catalog;
use crate::error::{Result, rejected};
use crate::register::Views;
use crate::total::{total_expr, total_plan};

mod aggregates;
mod allowlist;
mod lineage;

use aggregates::strip_casts;
use allowlist::Position;

/// The name of the privacy-unit column threaded through the input plan.
pub(crate) const UNIT: &str = "__privagg_unit";

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

/// The catalog and the registered views: what tables are.
pub(crate) struct Tables<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// The views of its tables.
    pub views: &'a Views,
}

/// Analyses a logical plan made from the analyst's SQL.
pub(crate) fn analyze(plan: LogicalPlan, catalog: &Catalog, views: &Views) -> Result<Analysis> {
    let tables = Tables { catalog, views };
    let aggregate = allowlist::released_part(&plan, &tables)?.clone();
    let mut private_tables = Vec::new();
    allowlist::check_rows(&aggregate.input, &tables, &mut private_tables)?;
    if private_tables.is_empty() {
        return Err(rejected(allowlist::NO_PRIVATE_TABLE));
    }
    let mut seen = std::collections::HashSet::new();
    private_tables.retain(|t| seen.insert(t.clone()));
    for (i, key) in aggregate.group_expr.iter().enumerate() {
        allowlist::check_expr(key, Position::Row, "GROUP BY", &tables)?;
        if aggregate.group_expr[..i].contains(key) {
            return Err(rejected(format!(
                "{} appears twice in GROUP BY: list each key once",
                key.human_display()
            )));
        }
    }
    if aggregate.schema.fields().len() != aggregate.group_expr.len() + aggregate.aggr_expr.len() {
        return Err(rejected(
            "this GROUP BY shape is not supported: list each key once, as a column or an expression",
        ));
    }
    let is_unit = |c: &Column| lineage::is_unit(&aggregate.input, c, &tables);
    let mut aggregates = aggregate
        .aggr_expr
        .iter()
        .map(|e| aggregates::describe_aggregate(e, catalog, &is_unit, &tables))
        .collect::<Result<Vec<_>>>()?;
    if aggregates.is_empty() {
        return Err(rejected(
            "the query has GROUP BY but no aggregate: add COUNT(*) or another aggregate (group keys alone are released only with a statistic)",
        ));
    }
    let input = thread_unit(aggregate.input.as_ref().clone(), catalog, views)?;
    let unit = input
        .schema()
        .columns()
        .into_iter()
        .find(|c| c.name == UNIT)
        .ok_or_else(|| {
            rejected("the privacy unit does not reach the aggregation: keep a private table's rows (not only a public table's) in FROM")
        })?;
    let input = filter_unit_not_null(input, &unit)?;
    // Every row expression is made total: whether the query succeeds never
    // depends on a row (crate::total).
    let input = total_plan(input)?;
    let schema = Arc::clone(input.schema());
    let keys = aggregate
        .group_expr
        .iter()
        .map(|k| total_expr(k.clone(), &schema))
        .collect::<Result<Vec<_>>>()?;
    if let Some(Expr::Literal(constant, _)) = keys.iter().find(|k| matches!(k, Expr::Literal(..))) {
        return Err(rejected(match constant {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => format!(
                "GROUP BY '{s}': a string constant puts every row in one group; for the column write \"{s}\" (double quotes)"
            ),
            other => format!(
                "GROUP BY {other}: a constant puts every row in one group; group by a column's name"
            ),
        }));
    }
    for a in &mut aggregates {
        if let Some(v) = a.value.take() {
            a.value = Some(total_expr(v, &schema)?);
        }
    }
    let public_values = public_values(&keys, &input, catalog)?;
    let key_types = keys
        .iter()
        .map(|k| k.get_type(schema.as_ref()))
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(|e| rejected(e.to_string()))?;
    Ok(Analysis {
        keys,
        plan,
        input,
        unit,
        private_tables,
        public_values,
        key_types,
        aggregates,
    })
}

/// Adds the privacy unit as [`UNIT`] to every private scan and carries it
/// through every projection up to the aggregation's input.
fn thread_unit(input: LogicalPlan, catalog: &Catalog, views: &Views) -> Result<LogicalPlan> {
    input
        .transform_up(|node| match node {
            LogicalPlan::SubqueryAlias(ref alias)
                if views.private_table(&alias.alias, &alias.input).is_some() =>
            {
                let name = views
                    .private_table(&alias.alias, &alias.input)
                    .unwrap_or_default();
                let Some(table) = catalog.table(name) else {
                    return Ok(Transformed::no(node));
                };
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
        .map_err(|e| rejected(crate::messages::engine_message(&e.to_string())))
}

fn filter_unit_not_null(input: LogicalPlan, unit: &Column) -> Result<LogicalPlan> {
    datafusion::logical_expr::LogicalPlanBuilder::from(input)
        .filter(Expr::Column(unit.clone()).is_not_null())
        .and_then(|b| b.build())
        .map_err(|e| rejected(e.to_string()))
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
