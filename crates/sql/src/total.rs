//! Makes every row expression of the bounded plan total, so whether a query
//! succeeds never depends on the data (docs/privacy/sql.md, "Total row
//! expressions"):
//!
//! - types are coerced first (DataFusion's own type coercion), so the casts
//!   it would insert later are visible here;
//! - every `CAST` becomes a safe cast (`TRY_CAST`: a value that does not
//!   convert is NULL);
//! - every binary operator other than comparisons and logic runs through
//!   [`TotalBinary`] (division by zero, overflow → NULL on that row);
//! - every scalar function with a non-constant argument runs through
//!   [`TotalFunction`] (an error on a row → NULL on that row).
//!
//! Comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL/TRUE/...`, `BETWEEN`,
//! `IN (list)`, `CASE`, negation (wrapping) and `LIKE` with a constant
//! pattern cannot fail on operands of coerced types.

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::{TypeCoercion, TypeCoercionRewriter};

use crate::error::{Result, rejected};
use crate::udf::{TotalBinary, TotalFunction};

fn fail(e: datafusion::error::DataFusionError) -> crate::error::SqlError {
    rejected(crate::syntax::clean(&e.to_string()))
}

/// The total form of one (type-coerced) expression.
fn totalize(expr: Expr) -> Result<Expr> {
    expr.transform_up(|e| {
        Ok(match e {
            Expr::Cast(Cast { expr, field }) => {
                Transformed::yes(Expr::TryCast(TryCast::new_from_field(expr, field)))
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if !TotalBinary::is_total(op) => {
                let udf = Arc::new(ScalarUDF::from(TotalBinary::new(op)));
                Transformed::yes(udf.call(vec![*left, *right]))
            }
            Expr::ScalarFunction(ScalarFunction { func, args })
                if !func.name().starts_with("privagg_")
                    && args.iter().any(|a| !matches!(a, Expr::Literal(..))) =>
            {
                let udf = Arc::new(ScalarUDF::from(TotalFunction::new(func)));
                Transformed::yes(udf.call(args))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .map_err(fail)
}

/// Coerces an expression over `schema` and makes it total.
pub(crate) fn total_expr(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    let coerced = expr
        .rewrite(&mut TypeCoercionRewriter::new(schema))
        .map_err(fail)?
        .data;
    totalize(coerced)
}

/// Coerces a row-level plan and makes every expression in it total, keeping
/// every output column's name.
pub(crate) fn total_plan(plan: LogicalPlan) -> Result<LogicalPlan> {
    let coerced = TypeCoercion::new()
        .analyze(plan, &ConfigOptions::default())
        .map_err(fail)?;
    coerced
        .transform_up(|node| {
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                let total = totalize(e)
                    .map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?;
                Ok(Transformed::yes(saved.restore(total)))
            })?
            .map_data(|p| p.recompute_schema())
        })
        .map(|t| t.data)
        .map_err(fail)
}
