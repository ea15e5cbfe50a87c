//! Which columns of the analyst's plan are a privacy unit: a private table's
//! unit column passed up unchanged (renaming is fine). A computed column, a
//! constant, or another column that was given the unit's name is not.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan};

use super::Tables;

/// Whether `column` of `plan`'s output is a private table's unit column.
pub(crate) fn is_unit(plan: &LogicalPlan, column: &Column, tables: &Tables) -> bool {
    plan.schema()
        .index_of_column(column)
        .is_ok_and(|i| unit_at(plan, i, tables))
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

/// Whether output field `index` of `plan` is a unit column.
fn unit_at(plan: &LogicalPlan, index: usize, tables: &Tables) -> bool {
    match plan {
        LogicalPlan::SubqueryAlias(a) => {
            if let Some(name) = tables.views.private_table(&a.alias, &a.input) {
                return tables.catalog.table(name).is_some_and(|t| {
                    index < a.input.schema().fields().len()
                        && a.input.schema().field(index).name() == &t.privacy_unit
                });
            }
            if tables.views.is_public(&a.input) {
                return false;
            }
            unit_at(&a.input, index, tables)
        }
        LogicalPlan::Projection(p) => match p.expr.get(index).map(strip_alias) {
            Some(Expr::Column(c)) => is_unit(&p.input, c, tables),
            _ => false,
        },
        LogicalPlan::Filter(f) => unit_at(&f.input, index, tables),
        LogicalPlan::Join(j) => {
            let n = j.left.schema().fields().len();
            match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                    index < n && unit_at(&j.left, index, tables)
                }
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    index < j.right.schema().fields().len() && unit_at(&j.right, index, tables)
                }
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                    if index < n {
                        unit_at(&j.left, index, tables)
                    } else {
                        unit_at(&j.right, index - n, tables)
                    }
                }
            }
        }
        _ => false,
    }
}
