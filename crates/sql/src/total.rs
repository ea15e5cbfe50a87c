//! Makes every row expression of the bounded plan total, so whether a query
//! succeeds never depends on the data (docs/privacy/sql.md, "Total row
//! expressions"):
//!
//! - types are coerced first (DataFusion's own type coercion), so the casts
//!   it would insert later are visible here, and expressions are simplified
//!   (DataFusion's own simplifier: functions such as `arrow_cast` that only
//!   work once simplified become what they stand for, constants are folded);
//! - every `CAST` becomes a safe cast (`TRY_CAST`: a value that does not
//!   convert is NULL);
//! - every binary operator other than comparisons and logic runs through
//!   [`TotalBinary`] (division by zero, overflow → NULL on that row);
//! - every scalar function with arguments (constant ones too: a failing
//!   constant fails only when a row reaches it, which depends on the data)
//!   runs through [`TotalFunction`] (an error on a row → NULL on that row).
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
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, ScalarUDF};
use datafusion::optimizer::analyzer::type_coercion::{TypeCoercion, TypeCoercionRewriter};
use datafusion::optimizer::simplify_expressions::{ExprSimplifier, SimplifyExpressions};
use datafusion::optimizer::{AnalyzerRule, OptimizerContext, OptimizerRule};

use crate::error::{Result, rejected};
use crate::udf::{TotalBinary, TotalFunction};

fn fail(e: datafusion::error::DataFusionError) -> crate::error::SqlError {
    rejected(crate::messages::engine_message(&e.to_string()))
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
            // Constant arguments too: a constant that fails (`sqrt(-2.5)`)
            // fails only when a row reaches it, which depends on the data.
            Expr::ScalarFunction(ScalarFunction { func, args })
                if !func.name().starts_with("privagg_") && !args.is_empty() =>
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

/// Coerces and simplifies an expression over `schema` and makes it total.
pub(crate) fn total_expr(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    let coerced = expr
        .rewrite(&mut TypeCoercionRewriter::new(schema))
        .map_err(fail)?
        .data;
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .build();
    let simplified = ExprSimplifier::new(context)
        .simplify(coerced)
        .map_err(fail)?;
    totalize(simplified)
}

/// Coerces and simplifies a row-level plan and makes every expression in it total, keeping
/// every output column's name.
pub(crate) fn total_plan(plan: LogicalPlan) -> Result<LogicalPlan> {
    let coerced = TypeCoercion::new()
        .analyze(plan, &ConfigOptions::default())
        .map_err(fail)?;
    let (simplifier, context) = (SimplifyExpressions::new(), OptimizerContext::new());
    coerced
        .transform_up(|node| {
            // The rule rewrites one node; the walk is ours (bottom-up).
            let node = simplifier.rewrite(node, &context)?.data;
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
