//! The fused contribution-bounding operator: per (unit, group) aggregation
//! and L0 bounding in one pass over the scanned rows, instead of two hash
//! aggregations (by unit and group, then by unit with
//! `privagg_bottom_k_groups`).
//!
//! [`BoundByUnit`] is the logical node the bounded plan uses where it can
//! (a grouped query whose unit is an integer column); [`BoundByUnit::stock`]
//! is the same computation as a plan of DataFusion operators and privagg's
//! registered functions ([`expand`] turns a plan into it: what the tests
//! and benchmarks compare the operator with). Both give the same rows: per (unit, group) kept by
//! L0, the row-encoded key, the unit's row count in the group and the sum of
//! each partial — the k groups first in the unit's salted-hash order
//! ([`crate::udf::group_hash`] of [`crate::udf::unit_salt`], then the key
//! bytes). The privacy argument is unchanged (`docs/privacy/sql.md`).

mod bound;
mod codec;
mod exchange;
mod exec;
mod planner;
mod spill;
mod state;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result};
use datafusion::functions::core::expr_fn::{get_field, r#struct};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{
    AggregateUDF, Expr, Extension, LogicalPlan, LogicalPlanBuilder, UserDefinedLogicalNodeCore,
    col, lit, try_cast,
};

pub use codec::{decode_exec, decode_node, encode_exec, encode_node};
pub use exec::{BoundByUnitExec, Exchange};
pub use planner::{FusedPlanner, FusedQueryPlanner};

use crate::udf::{BottomKGroups, LATTICE_TYPE};

/// Column names shared with the bounded plan.
pub(crate) struct Names {
    /// The row count column of the output.
    pub rows: String,
    /// The row-encoded key column of the output.
    pub key_bytes: String,
}

/// One partial: its column (input: the per-row value; output: the sum) and
/// whether it is a count (`Int64`) rather than a lattice sum
/// (`Decimal128(38, 0)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct Partial {
    /// Column name, in the input and the output.
    pub name: String,
    /// A count (`Int64`) rather than a lattice sum.
    pub is_count: bool,
    /// Its per-row value is always 1 (`COUNT(*)`): its sum is the row count,
    /// and the operator does not read it.
    pub is_row_count: bool,
}

/// Per (unit, group) aggregation and L0 bounding (at most `k` groups per
/// unit). Input: the unit, then the key columns, then one column per
/// partial (its per-row value, `Int64` for counts, `Decimal128(38, 0)`
/// otherwise). Output: the row-encoded key (`Binary`), the row count
/// (`Int64`), then each partial's sum over the unit's rows in the group
/// (NULL counted as 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundByUnit {
    input: LogicalPlan,
    salt: i64,
    k: usize,
    n_keys: usize,
    partials: Vec<Partial>,
    rows: String,
    key_bytes: String,
    schema: DFSchemaRef,
}

impl PartialOrd for BoundByUnit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.salt, self.k, self.n_keys, &self.partials)
            .partial_cmp(&(other.salt, other.k, other.n_keys, &other.partials))
            .filter(|o| *o != Ordering::Equal)
            .or_else(|| self.input.partial_cmp(&other.input))
    }
}

/// The output: key bytes, row count, then each partial's sum.
pub(crate) fn output_schema(partials: &[Partial], names: &Names) -> SchemaRef {
    let mut fields = vec![
        Field::new(&names.key_bytes, DataType::Binary, false),
        Field::new(&names.rows, DataType::Int64, false),
    ];
    for p in partials {
        let t = if p.is_count {
            DataType::Int64
        } else {
            LATTICE_TYPE
        };
        fields.push(Field::new(&p.name, t, true));
    }
    Arc::new(Schema::new(fields))
}

/// Unit types the operator reads as `i64` (a lossless cast back gives the
/// unit's row encoding); other unit types use the stock plan.
pub(crate) fn unit_type_supported(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

impl BoundByUnit {
    /// The node over `input` (unit, keys, partials as described above).
    ///
    /// # Errors
    /// When the input's columns do not have that layout.
    pub(crate) fn try_new(
        input: LogicalPlan,
        salt: i64,
        k: usize,
        n_keys: usize,
        partials: Vec<Partial>,
        names: &Names,
    ) -> Result<Self> {
        let width = 1 + n_keys + partials.len();
        if input.schema().fields().len() != width || k == 0 || n_keys == 0 {
            return datafusion::common::plan_err!("BoundByUnit: bad input layout");
        }
        let schema = Arc::new(DFSchema::try_from(
            output_schema(&partials, names).as_ref().clone(),
        )?);
        Ok(Self {
            input,
            salt,
            k,
            n_keys,
            partials,
            rows: names.rows.clone(),
            key_bytes: names.key_bytes.clone(),
            schema,
        })
    }

    /// The node as a logical plan.
    pub(crate) fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }

    /// The same computation as DataFusion operators and privagg's functions:
    /// a hash aggregation by (unit, keys), then one by unit with
    /// `privagg_bottom_k_groups`, unnested.
    ///
    /// # Errors
    /// DataFusion's planning errors.
    pub fn stock(&self) -> Result<LogicalPlan> {
        let fields = self.input.schema().fields();
        let name = |i: usize| Expr::Column(Column::from_name(fields[i].name()));
        let unit = name(0);
        let keys: Vec<Expr> = (1..=self.n_keys).map(name).collect();
        let partial_cols: Vec<Expr> = (0..self.partials.len())
            .map(|j| name(1 + self.n_keys + j))
            .collect();
        let rows = || Expr::Column(Column::from_name(&self.rows));
        let mut aggregates = vec![count(lit(1i64)).alias(&self.rows)];
        for (p, c) in self.partials.iter().zip(&partial_cols) {
            aggregates.push(sum(c.clone()).alias(&p.name));
        }
        let mut group = vec![unit.clone()];
        group.extend(keys.iter().cloned());
        let mut args = vec![
            lit(self.salt),
            lit(self.k as i64),
            r#struct(keys),
            unit.clone(),
            rows(),
        ];
        args.extend(partial_cols);
        const GROUPS: &str = "__privagg_groups";
        let groups = Arc::new(AggregateUDF::from(BottomKGroups::new()))
            .call(args)
            .alias(GROUPS);
        let entries = LogicalPlanBuilder::from(self.input.clone())
            .aggregate(group, aggregates)?
            .aggregate(vec![unit], vec![groups])?
            .unnest_column(GROUPS)?;
        let mut out = vec![
            get_field(col(GROUPS), "key").alias(&self.key_bytes),
            get_field(col(GROUPS), "n").alias(&self.rows),
        ];
        for (j, p) in self.partials.iter().enumerate() {
            let field = get_field(col(GROUPS), format!("p{j}"));
            let field = if p.is_count {
                try_cast(field, DataType::Int64)
            } else {
                field
            };
            out.push(field.alias(&p.name));
        }
        entries.project(out)?.build()
    }
}

impl UserDefinedLogicalNodeCore for BoundByUnit {
    fn name(&self) -> &str {
        "BoundByUnit"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "BoundByUnit: keys={}, k={}, partials={}",
            self.n_keys,
            self.k,
            self.partials.len()
        )
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let Some(input) = inputs.pop() else {
            return datafusion::common::plan_err!("BoundByUnit needs one input");
        };
        Ok(Self {
            input,
            ..self.clone()
        })
    }
}

/// `plan` with every [`BoundByUnit`] replaced by [`BoundByUnit::stock`], for
/// executors whose planner does not know the node (a Ballista cluster).
///
/// # Errors
/// DataFusion's planning errors.
pub fn expand(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        if let LogicalPlan::Extension(e) = &node
            && let Some(bound) = e.node.as_any().downcast_ref::<BoundByUnit>()
        {
            return Ok(Transformed::yes(bound.stock()?));
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}
