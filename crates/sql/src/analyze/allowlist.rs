//! The allowlist: every node of the analyst's plan and every expression slot
//! of each node is checked against the rule of its position; whatever a rule
//! does not name is rejected (docs/privacy/sql.md, "The allowlist").
//!
//! Positions:
//! - **released** (above the aggregation: select list, HAVING, ORDER BY,
//!   LIMIT): computed on released values only; no sub-queries, no window
//!   functions.
//! - **row** (below it: WHERE, FROM, JOIN conditions, GROUP BY keys,
//!   aggregate arguments): deterministic row-level expressions; sub-queries
//!   only when uncorrelated and over public tables; no aggregates, windows,
//!   volatile functions, variables or parameters; constant LIKE patterns.
//!   Everything accepted here is later made total (`crate::total`).

use datafusion::common::ExprSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Aggregate, Expr, JoinType, LogicalPlan, Operator, Volatility};

use super::Tables;
use super::lineage::is_unit;
use crate::error::{Result, rejected};

/// Where an expression sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// Above the aggregation: over released values.
    Released,
    /// Below it: over private rows.
    Row,
}

/// Names starting with this are privagg's own columns.
const RESERVED: &str = "__privagg";

fn reserved(name: &str) -> Option<String> {
    name.to_ascii_lowercase().starts_with(RESERVED).then(|| {
        format!("the name {name} is reserved (names starting with {RESERVED} are privagg's own): rename it")
    })
}

fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(..) => true,
        Expr::Cast(c) => is_constant(&c.expr),
        Expr::TryCast(c) => is_constant(&c.expr),
        _ => false,
    }
}

/// Whether a sub-query is uncorrelated and reads public tables only.
fn public_only(plan: &LogicalPlan, tables: &Tables) -> bool {
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::SubqueryAlias(a) if tables.views.is_public(&a.input) => {
                return Ok(TreeNodeRecursion::Jump);
            }
            LogicalPlan::SubqueryAlias(a)
                if tables.views.private_table(&a.alias, &a.input).is_some() =>
            {
                ok = false;
            }
            LogicalPlan::TableScan(_) => ok = false,
            _ => {}
        }
        let _ = node.apply_expressions(|e| {
            e.apply(|x| {
                let correlated = match x {
                    Expr::OuterReferenceColumn(..) => true,
                    Expr::ScalarSubquery(s) => !s.outer_ref_columns.is_empty(),
                    Expr::Exists(s) => !s.subquery.outer_ref_columns.is_empty(),
                    Expr::InSubquery(s) => !s.subquery.outer_ref_columns.is_empty(),
                    _ => false,
                };
                if correlated {
                    ok = false;
                }
                Ok(TreeNodeRecursion::Continue)
            })
        });
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    ok
}

/// The problem with one expression node at a position, if any.
fn problem(e: &Expr, position: Position, place: &str, tables: &Tables) -> Option<String> {
    use Position::{Released, Row};
    let sub_query = |plan: &LogicalPlan, correlated: bool| match position {
        Row if !correlated && public_only(plan, tables) => None,
        Row => Some(format!(
            "sub-queries over private tables (or correlated ones) in {place} are not supported: join the private table on its privacy unit instead"
        )),
        Released => Some(format!(
            "sub-queries in {place} are not supported: join the table instead"
        )),
    };
    match e {
        Expr::Alias(a) => reserved(&a.name),
        Expr::Column(c) => reserved(&c.name),
        Expr::Literal(..)
        | Expr::BinaryExpr(_)
        | Expr::Not(_)
        | Expr::IsNotNull(_)
        | Expr::IsNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsNotUnknown(_)
        | Expr::Negative(_)
        | Expr::Between(_)
        | Expr::Case(_)
        | Expr::Cast(_)
        | Expr::TryCast(_)
        | Expr::InList(_) => None,
        Expr::Like(l) | Expr::SimilarTo(l) if position == Row && !is_constant(&l.pattern) => {
            Some(format!(
                "LIKE / SIMILAR TO patterns in {place} must be constants (a pattern read from a row can fail)"
            ))
        }
        Expr::Like(_) | Expr::SimilarTo(_) => None,
        Expr::ScalarFunction(f) if f.func.name().starts_with("privagg_") => Some(format!(
            "{} is internal to privagg: use the SQL syntax in docs/sql.md (contribution_bounds_per_group, epsilon_share)",
            f.func.name()
        )),
        Expr::ScalarFunction(f)
            if position == Row && f.func.signature().volatility == Volatility::Volatile =>
        {
            Some(format!(
                "{}() in {place} is not supported: it is random per row (privagg draws its own randomness)",
                f.func.name()
            ))
        }
        Expr::ScalarFunction(_) => None,
        Expr::ScalarSubquery(s) => sub_query(&s.subquery, !s.outer_ref_columns.is_empty()),
        Expr::Exists(s) => sub_query(
            &s.subquery.subquery,
            !s.subquery.outer_ref_columns.is_empty(),
        ),
        Expr::InSubquery(s) => sub_query(
            &s.subquery.subquery,
            !s.subquery.outer_ref_columns.is_empty(),
        ),
        Expr::SetComparison(_) => Some(format!(
            "ANY / ALL sub-queries in {place} are not supported"
        )),
        Expr::AggregateFunction(f) => Some(format!(
            "aggregate {} below the top level is not supported",
            f.func.name()
        )),
        Expr::WindowFunction(_) => {
            Some("window functions (OVER ...) are not supported".to_string())
        }
        Expr::OuterReferenceColumn(..) => Some(format!(
            "correlated sub-queries in {place} are not supported"
        )),
        Expr::ScalarVariable(..) => Some(format!("variables in {place} are not supported")),
        Expr::Placeholder(_) => Some(format!(
            "parameters ($1, ?) in {place} are not supported: write the value"
        )),
        Expr::Unnest(_) => {
            Some("UNNEST is not supported: it changes the rows of a customer".to_string())
        }
        other => Some(format!(
            "{} in {place} is not supported",
            other.variant_name()
        )),
    }
}

/// Checks every node of an expression against its position's rule.
pub(crate) fn check_expr(
    expr: &Expr,
    position: Position,
    place: &str,
    tables: &Tables,
) -> Result<()> {
    let mut found = None;
    expr.apply(|e| {
        found = problem(e, position, place, tables);
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .map_err(|e| rejected(e.to_string()))?;
    found.map_or(Ok(()), |p| Err(rejected(p)))
}

fn check_node_expressions(
    plan: &LogicalPlan,
    position: Position,
    place: &str,
    tables: &Tables,
) -> Result<()> {
    let mut result = Ok(());
    let _ = plan.apply_expressions(|e| {
        result = check_expr(e, position, place, tables);
        Ok(if result.is_err() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    result
}

const RETURNS_ROWS: &str = "the query returns rows of a private table: only aggregates (COUNT, SUM, AVG, VAR_POP, STDDEV, PERCENTILE_CONT, MEDIAN) grouped by keys can be released";

/// The rejection for a query that reads no private table.
pub(crate) const NO_PRIVATE_TABLE: &str = "the query reads no private table: privagg answers aggregate queries over the private tables of its catalog";

/// Walks the nodes above the aggregation (checking each one's expressions
/// as released-value expressions) and returns the aggregation.
pub(crate) fn released_part<'a>(plan: &'a LogicalPlan, tables: &Tables) -> Result<&'a Aggregate> {
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Aggregate(a) => return Ok(a),
            LogicalPlan::Projection(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::SubqueryAlias(_) => {
                check_node_expressions(
                    node,
                    Position::Released,
                    "HAVING / ORDER BY / the select list",
                    tables,
                )?;
                match node.inputs().first() {
                    Some(input) => node = input,
                    None => break,
                }
            }
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
    let _ = plan.apply_with_subqueries(|n| {
        if let LogicalPlan::SubqueryAlias(a) = n
            && tables.views.private_table(&a.alias, &a.input).is_some()
        {
            reads_private = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    Err(rejected(if reads_private {
        RETURNS_ROWS
    } else {
        NO_PRIVATE_TABLE
    }))
}

/// Checks everything below the aggregation; collects the private tables read.
pub(crate) fn check_rows(
    plan: &LogicalPlan,
    tables: &Tables,
    private: &mut Vec<String>,
) -> Result<()> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            reserved(alias.alias.table()).map_or(Ok(()), |p| Err(rejected(p)))?;
            // A catalog table, inlined by DataFusion as an alias over its view.
            if let Some(name) = tables.views.private_table(&alias.alias, &alias.input) {
                private.push(name.to_string());
                return Ok(());
            }
            if tables.views.is_public(&alias.input) {
                return Ok(());
            }
        }
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Values(_)
        | LogicalPlan::EmptyRelation(_) => {}
        LogicalPlan::Join(join) => {
            let (mut left, mut right) = (Vec::new(), Vec::new());
            check_rows(&join.left, tables, &mut left)?;
            check_rows(&join.right, tables, &mut right)?;
            check_node_expressions(plan, Position::Row, "a JOIN condition", tables)?;
            if !left.is_empty() && !right.is_empty() {
                if join.join_type == JoinType::Full {
                    return Err(rejected(format!(
                        "FULL JOIN of private tables '{}' and '{}' is not supported: use an INNER or LEFT JOIN on their privacy units",
                        left[0], right[0]
                    )));
                }
                if !joins_on_unit(join, tables) {
                    return Err(rejected(format!(
                        "joining private tables '{}' and '{}' is only supported on their privacy units (JOIN ... ON a.<unit> = b.<unit>, the unit columns themselves, of the same type)",
                        left[0], right[0]
                    )));
                }
            }
            private.extend(left);
            private.extend(right);
            return Ok(());
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
        other => {
            return Err(rejected(format!(
                "this query shape is not supported ({})",
                other.display()
            )));
        }
    }
    check_node_expressions(plan, Position::Row, "WHERE or FROM", tables)?;
    for input in plan.inputs() {
        check_rows(input, tables, private)?;
    }
    Ok(())
}

/// Whether a join of two private relations equates the left relation's unit
/// column with the right relation's, as bare columns of the same type (one
/// conjunct of the ON condition, or an equi-join key pair).
fn joins_on_unit(join: &datafusion::logical_expr::Join, tables: &Tables) -> bool {
    let unit_pair = |a: &Expr, b: &Expr| {
        let (Expr::Column(a), Expr::Column(b)) = (a, b) else {
            return false;
        };
        let typed = |plan: &LogicalPlan, c| {
            plan.schema()
                .field_from_column(c)
                .ok()
                .map(|f| f.data_type().clone())
        };
        is_unit(&join.left, a, tables)
            && is_unit(&join.right, b, tables)
            && typed(&join.left, a).is_some()
            && typed(&join.left, a) == typed(&join.right, b)
    };
    let pairs = join.on.iter().map(|(l, r)| (l, r)).chain(
        join.filter
            .iter()
            .flat_map(datafusion::logical_expr::utils::split_conjunction)
            .filter_map(|c| match c {
                Expr::BinaryExpr(b) if b.op == Operator::Eq => Some((&*b.left, &*b.right)),
                _ => None,
            }),
    );
    pairs
        .into_iter()
        .any(|(l, r)| unit_pair(l, r) || unit_pair(r, l))
}
