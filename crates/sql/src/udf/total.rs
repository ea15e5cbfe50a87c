//! Total (never failing) forms of row expressions: a wrapper that runs any
//! scalar function with "an error on a row gives NULL on that row"
//! semantics, and the same for binary operators (arithmetic, string
//! concatenation, bit operations, regular-expression matches).
//!
//! Why: whether a query succeeds must not depend on any single row. DataFusion
//! evaluates expressions on whole batches (even the right side of `AND`, and
//! on rows a later filter drops, such as rows without consent), so one row
//! with `x / 0` or a bad cast would otherwise fail the whole query: a 1-bit
//! leak per query that no ε bounds (docs/privacy/sql.md).
//!
//! Both wrappers first evaluate the whole batch with DataFusion's own code;
//! only when that fails do they evaluate row by row and put NULL where a row
//! fails, so the values of every other row are exactly DataFusion's.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Expr, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};

/// Runs `evaluate` on the whole batch; if it fails (or panics), runs it on
/// each row alone and puts NULL for the rows that fail.
fn per_row_fallback(
    args: &[ColumnarValue],
    number_rows: usize,
    return_type: &DataType,
    evaluate: &dyn Fn(&[ColumnarValue], usize) -> Result<ColumnarValue>,
) -> Result<ColumnarValue> {
    let attempt = |args: &[ColumnarValue], rows: usize| {
        catch_unwind(AssertUnwindSafe(|| evaluate(args, rows)))
            .ok()
            .and_then(Result::ok)
            .and_then(|v| v.into_array(rows).ok())
            .filter(|a| a.len() == rows && a.data_type() == return_type)
    };
    if let Some(all) = attempt(args, number_rows) {
        return Ok(ColumnarValue::Array(all));
    }
    let arrays: Vec<Option<ArrayRef>> = args
        .iter()
        .map(|a| match a {
            ColumnarValue::Array(a) => Some(Arc::clone(a)),
            ColumnarValue::Scalar(_) => None,
        })
        .collect();
    let mut rows: Vec<ArrayRef> = Vec::with_capacity(number_rows);
    for i in 0..number_rows {
        let one: Vec<ColumnarValue> = args
            .iter()
            .zip(&arrays)
            .map(|(arg, array)| match array {
                Some(a) => ColumnarValue::Array(a.slice(i, 1)),
                None => arg.clone(),
            })
            .collect();
        rows.push(attempt(&one, 1).unwrap_or_else(|| new_null_array(return_type, 1)));
    }
    if rows.is_empty() {
        return Ok(ColumnarValue::Array(new_null_array(return_type, 0)));
    }
    let refs: Vec<&dyn datafusion::arrow::array::Array> = rows.iter().map(|a| a.as_ref()).collect();
    Ok(ColumnarValue::Array(concat(&refs)?))
}

/// Any scalar function, made total: a row on which it fails gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TotalFunction {
    inner: Arc<ScalarUDF>,
    name: String,
}

impl TotalFunction {
    /// Wraps `inner`.
    pub fn new(inner: Arc<ScalarUDF>) -> Self {
        let name = format!("privagg_total_{}", inner.name());
        Self { inner, name }
    }

    /// The wrapped function.
    pub fn inner(&self) -> &Arc<ScalarUDF> {
        &self.inner
    }
}

impl ScalarUDFImpl for TotalFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        Ok(Arc::new(field.as_ref().clone().with_nullable(true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows,
            return_field,
            config_options,
        } = args;
        let evaluate = |args: &[ColumnarValue], rows: usize| {
            self.inner.invoke_with_args(ScalarFunctionArgs {
                args: args.to_vec(),
                arg_fields: arg_fields.clone(),
                number_rows: rows,
                return_field: Arc::clone(&return_field),
                config_options: Arc::clone(&config_options),
            })
        };
        per_row_fallback(&args, number_rows, return_field.data_type(), &evaluate)
    }
}

/// A binary operator made total: DataFusion's own operator, with NULL on
/// the rows where it fails (division by zero, decimal overflow, ...).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TotalBinary {
    op: Operator,
    name: String,
    signature: Signature,
}

impl TotalBinary {
    /// The total form of `op`.
    pub fn new(op: Operator) -> Self {
        Self {
            op,
            name: format!("privagg_total_op({op})"),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// The wrapped operator.
    pub fn op(&self) -> Operator {
        self.op
    }

    /// Whether `op` can never fail on operands of coerced types (comparisons
    /// and logic), so it needs no total form.
    pub fn is_total(op: Operator) -> bool {
        matches!(
            op,
            Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::And
                | Operator::Or
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom
        )
    }
}

impl ScalarUDFImpl for TotalBinary {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    /// A short name (the operator and a hash of the operands), not the
    /// default's full rendering of both operands: DataFusion names every
    /// function call of a physical plan, so on a chain `a + b + c …` of n
    /// operators the default costs O(n²) characters per level, O(n³) in
    /// all (a 400-term sum took 45 s to plan in a debug build).
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        args.hash(&mut hasher);
        Ok(format!("{}#{:016x}", self.name, hasher.finish()))
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [l, r] = arg_types else {
            return exec_err!("{} takes 2 arguments", self.name);
        };
        let (l, r) = BinaryTypeCoercer::new(l, &self.op, r).get_input_types()?;
        Ok(vec![l, r])
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let [l, r] = arg_types else {
            return exec_err!("{} takes 2 arguments", self.name);
        };
        BinaryTypeCoercer::new(l, &self.op, r).get_result_type()
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [l, r] = args.arg_fields.as_slice() else {
            return exec_err!("{} takes 2 arguments", self.name);
        };
        let types = [l.data_type().clone(), r.data_type().clone()];
        let op = self.op;
        let evaluate = |args: &[ColumnarValue], rows: usize| {
            let [lv, rv] = args else {
                return exec_err!("binary operator takes 2 arguments");
            };
            // Array operands become the batch's columns; scalars stay literals.
            let (mut fields, mut columns) = (Vec::new(), Vec::new());
            let mut side = |v: &ColumnarValue, ty: &DataType| -> Arc<dyn PhysicalExpr> {
                match v {
                    ColumnarValue::Scalar(s) => Arc::new(Literal::new(s.clone())),
                    ColumnarValue::Array(a) => {
                        let name = format!("c{}", columns.len());
                        let column = Arc::new(Column::new(&name, columns.len()));
                        fields.push(Field::new(name, ty.clone(), true));
                        columns.push(Arc::clone(a));
                        column
                    }
                }
            };
            let (left, right) = (side(lv, &types[0]), side(rv, &types[1]));
            let batch = RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )?;
            BinaryExpr::new(left, op, right).evaluate(&batch)
        };
        per_row_fallback(
            &args.args,
            args.number_rows,
            args.return_field.data_type(),
            &evaluate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::common::config::ConfigOptions;

    fn run(udf: &dyn ScalarUDFImpl, args: Vec<ColumnarValue>, ty: DataType) -> ArrayRef {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: 4,
                return_field: Arc::new(Field::new("out", ty.clone(), true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("total functions never fail");
        out.into_array(4).expect("array")
    }

    #[test]
    fn division_by_zero_gives_null_on_that_row_only() {
        let a = ColumnarValue::Array(Arc::new(Int64Array::from(vec![10, 20, 30, 40])));
        let b = ColumnarValue::Array(Arc::new(Int64Array::from(vec![2, 0, 3, 0])));
        let out = run(
            &TotalBinary::new(Operator::Divide),
            vec![a, b],
            DataType::Int64,
        );
        let out = out.as_primitive::<Int64Type>();
        assert_eq!(out.value(0), 5);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), 10);
        assert!(out.is_null(3));
    }

    #[test]
    fn a_scalar_operand_stays_a_literal() {
        let a = ColumnarValue::Array(Arc::new(Int64Array::from(vec![10, 20, 30, 40])));
        let two = ColumnarValue::Scalar(datafusion::common::ScalarValue::Int64(Some(2)));
        let zero = ColumnarValue::Scalar(datafusion::common::ScalarValue::Int64(Some(0)));
        let halves = run(
            &TotalBinary::new(Operator::Divide),
            vec![a.clone(), two],
            DataType::Int64,
        );
        assert_eq!(
            halves.as_primitive::<Int64Type>().values(),
            &[5, 10, 15, 20]
        );
        let none = run(
            &TotalBinary::new(Operator::Divide),
            vec![a, zero],
            DataType::Int64,
        );
        assert_eq!(none.null_count(), 4);
    }

    #[test]
    fn a_failing_function_gives_null_on_failing_rows() {
        use datafusion::arrow::array::StringArray;
        let f = datafusion::functions::datetime::to_timestamp(&ConfigOptions::default());
        let s = ColumnarValue::Array(Arc::new(StringArray::from(vec![
            "2020-01-01T00:00:00",
            "garbage",
            "2021-01-01T00:00:00",
            "n/a",
        ])));
        let ty = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None);
        let out = run(&TotalFunction::new(f), vec![s], ty);
        assert_eq!(out.null_count(), 2);
        assert!(out.is_valid(0) && out.is_null(1) && out.is_valid(2) && out.is_null(3));
    }
}
