//! `privagg_cap(v, n, cap)`: a unit's partial sum over `n` rows, scaled to at
//! most `cap` rows' worth.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Decimal128Builder};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::LATTICE_TYPE;
use super::lattice::literal_i64;

/// `round(v · cap / n)` (half away from zero; `floor` when the fourth
/// argument is 1) when `n > cap`, else `v`.
///
/// If every one of the `n` values is within `[−B, B]` on the lattice, the
/// result is within `[−cap·B, cap·B]`: each unit contributes at most `cap`
/// rows' worth to a group (L∞ bounding by reweighting, which keeps the unit's
/// mean instead of dropping rows).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Cap {
    signature: Signature,
}

impl Cap {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![
                    LATTICE_TYPE,
                    DataType::Int64,
                    DataType::Int64,
                    DataType::Int64,
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for Cap {
    fn default() -> Self {
        Self::new()
    }
}

/// The scaled value (see [`Cap`]); `floor` rounds down instead of to nearest.
pub fn capped(v: i128, n: i64, cap: i64, floor: bool) -> i128 {
    if n <= cap || n <= 0 {
        return v;
    }
    let num = v.saturating_mul(i128::from(cap));
    let den = i128::from(n);
    if floor {
        return num.div_euclid(den);
    }
    let q = num / den;
    let r = num % den;
    // Round half away from zero.
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

impl ScalarUDFImpl for Cap {
    fn name(&self) -> &str {
        "privagg_cap"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(LATTICE_TYPE)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [v, n, cap, mode] = args.args.as_slice() else {
            return exec_err!("privagg_cap takes 4 arguments");
        };
        let (Some(cap), Some(mode)) = (literal_i64(cap), literal_i64(mode)) else {
            return exec_err!("privagg_cap: cap and mode must be literals");
        };
        let v = v.to_array(args.number_rows)?;
        let n = n.to_array(args.number_rows)?;
        let (v, n) = (
            v.as_primitive::<Decimal128Type>(),
            n.as_primitive::<Int64Type>(),
        );
        let mut out = Decimal128Builder::with_capacity(v.len());
        for i in 0..v.len() {
            if v.is_null(i) || n.is_null(i) {
                out.append_null();
            } else {
                out.append_value(capped(v.value(i), n.value(i), cap, mode == 1));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(
            out.finish().with_precision_and_scale(38, 0)?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::capped;

    #[test]
    fn scaling_bounds_the_contribution() {
        assert_eq!(capped(10, 2, 5, false), 10);
        assert_eq!(capped(100, 10, 1, false), 10);
        assert_eq!(capped(-15, 10, 1, false), -2, "half away from zero");
        assert_eq!(capped(7, 3, 2, false), 5); // 4.67 -> 5
        assert_eq!(capped(7, 3, 2, true), 4);
        // n values each in [-B, B] give at most cap·B.
        for n in 1..50i64 {
            let v = 9 * i128::from(n);
            assert!(capped(v, n, 3, false) <= 27);
        }
        // Floors of parts never sum above the cap: 3 leaves of c = 1 each, n = 3, cap 2 (·1024).
        let parts: i128 = (0..3).map(|_| capped(1024, 3, 2, true)).sum();
        assert!(parts <= 2 * 1024);
    }
}
