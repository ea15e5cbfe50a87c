//! `privagg_to_lattice(x, lower, upper, offset, exponent, power)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Decimal128Array};
use datafusion::arrow::buffer::{NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::LATTICE_TYPE;

/// Clamps a value and rounds it onto a power-of-two grid as an exact integer.
///
/// NaN and NULL give NULL (NaN is treated as NULL); ±∞ clamp to the bounds.
/// The result is `round(((clamp(x) − offset)^power) / 2^exponent)`, rounding
/// half away from zero, as `Decimal128(38, 0)`; magnitudes beyond 2^120
/// saturate (bounds are checked well below that when planning).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToLattice {
    signature: Signature,
}

impl ToLattice {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![
                    DataType::Float64,
                    DataType::Float64,
                    DataType::Float64,
                    DataType::Float64,
                    DataType::Int64,
                    DataType::Int64,
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for ToLattice {
    fn default() -> Self {
        Self::new()
    }
}

fn scalar_f64(v: &ColumnarValue) -> Option<f64> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Float64(x)) => *x,
        _ => None,
    }
}

fn scalar_i64(v: &ColumnarValue) -> Option<i64> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Int64(x)) => *x,
        _ => None,
    }
}

const LIMIT: f64 = 1.329_227_995_784_916e36; // 2^120

/// The lattice integer of one value.
pub fn lattice_value(
    x: f64,
    lower: f64,
    upper: f64,
    offset: f64,
    spacing: f64,
    power: i64,
) -> Option<i128> {
    if x.is_nan() {
        return None;
    }
    let c = x.clamp(lower, upper) - offset;
    let v = if power == 2 { c * c } else { c };
    Some(round_half_away((v / spacing).clamp(-LIMIT, LIMIT)))
}

/// `y.round() as i128` (half away from zero) for finite `y`, without the
/// soft-float `f64 → i128` conversion and the libm call where `y` fits an
/// `i64` (the common case): below 2^52 the truncation `t` and `y − t` are
/// exact, so the half-way test is exact; from 2^52 on every `f64` is an
/// integer already.
fn round_half_away(y: f64) -> i128 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let a = y.abs();
    if a < TWO_52 {
        let t = y as i64;
        let frac = y - t as f64;
        i128::from(if frac >= 0.5 {
            t + 1
        } else if frac <= -0.5 {
            t - 1
        } else {
            t
        })
    } else if a < TWO_63 {
        i128::from(y as i64)
    } else {
        y as i128
    }
}

/// [`lattice_value`] of every value (NaN as 0), fast: where `spacing` is a
/// power of two whose reciprocal is a normal number, dividing by it is
/// multiplying by its reciprocal, bit for bit (both round the same real
/// number once), and below 2^52 the rounding needs no branch; a batch with a
/// value at or beyond 2^52 on the lattice is redone value by value.
fn lattice_column(
    values: &[f64],
    lower: f64,
    upper: f64,
    offset: f64,
    spacing: f64,
    power: i64,
) -> Vec<i128> {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    const MANTISSA: u64 = (1 << 52) - 1;
    let inverse = 1.0 / spacing;
    let exact = spacing.is_normal()
        && inverse.is_normal()
        && spacing.to_bits() & MANTISSA == 0
        && spacing > 0.0;
    let slow = || {
        values
            .iter()
            .map(|&v| lattice_value(v, lower, upper, offset, spacing, power).unwrap_or(0))
            .collect()
    };
    if !exact {
        return slow();
    }
    let mut wide = false;
    let mut round = |y: f64| {
        // NaN: y as i64 is 0 and no comparison holds, so 0, as wanted.
        wide |= y.abs() >= TWO_52;
        let t = y as i64;
        let frac = y - t as f64;
        // Wrapping: beyond 2^52 the batch is redone anyway.
        i128::from(
            t.wrapping_add(i64::from(frac >= 0.5))
                .wrapping_sub(i64::from(frac <= -0.5)),
        )
    };
    let out: Vec<i128> = if power == 2 {
        values
            .iter()
            .map(|&x| {
                let c = x.clamp(lower, upper) - offset;
                round(c * c * inverse)
            })
            .collect()
    } else {
        values
            .iter()
            .map(|&x| round((x.clamp(lower, upper) - offset) * inverse))
            .collect()
    };
    if wide { slow() } else { out }
}

impl ScalarUDFImpl for ToLattice {
    fn name(&self) -> &str {
        "privagg_to_lattice"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(LATTICE_TYPE)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [x, lo, hi, off, exp, pow] = args.args.as_slice() else {
            return exec_err!("privagg_to_lattice takes 6 arguments");
        };
        let (Some(lo), Some(hi), Some(off), Some(exp), Some(pow)) = (
            scalar_f64(lo),
            scalar_f64(hi),
            scalar_f64(off),
            scalar_i64(exp),
            scalar_i64(pow),
        ) else {
            return exec_err!(
                "privagg_to_lattice: bounds, offset, exponent and power must be literals"
            );
        };
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return exec_err!("privagg_to_lattice: lower bound above upper bound");
        }
        let spacing = 2f64.powi(i32::try_from(exp).unwrap_or(0));
        let values = x.to_array(args.number_rows)?;
        let values = values.as_primitive::<Float64Type>();
        // One pass over the values (NaN → 0, masked below), then the
        // validity: the input's, minus NaN.
        let lattice = lattice_column(values.values(), lo, hi, off, spacing, pow);
        let not_nan = NullBuffer::new(values.values().iter().map(|v| !v.is_nan()).collect());
        let validity = NullBuffer::union(values.nulls(), Some(&not_nan));
        let array = Decimal128Array::new(ScalarBuffer::from(lattice), validity)
            .with_precision_and_scale(38, 0)?;
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

/// Reads a `Float64` literal argument (for other functions of this module).
pub(crate) fn literal_f64(v: &ColumnarValue) -> Option<f64> {
    scalar_f64(v)
}

/// Reads an `Int64` literal argument (for other functions of this module).
pub(crate) fn literal_i64(v: &ColumnarValue) -> Option<i64> {
    scalar_i64(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn the_fast_rounding_is_f64_round(bits in proptest::prelude::any::<u64>(), scale in -60i32..130) {
            // A random 53-bit mantissa at magnitude 2^scale (fractions,
            // half-way cases and integers), either sign, below 2^120.
            let m = (bits >> 11) as f64 * 2f64.powi(scale - 53);
            let y = if bits & 1 == 1 { -m } else { m }.clamp(-LIMIT, LIMIT);
            proptest::prop_assert_eq!(super::round_half_away(y), y.round() as i128, "{}", y);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_column_is_the_exact_value(
            bits in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..64),
            scale in -40i32..80,
            exponent in -60i64..60,
            power in 1i64..=2,
            hi_bits in proptest::prelude::any::<u32>(),
        ) {
            // Values at magnitude 2^scale, some of them NaN or infinite,
            // with bounds, offset, lattice exponent and power at random.
            let values: Vec<f64> = bits
                .iter()
                .map(|&b| match b % 17 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => {
                        let m = (b >> 11) as f64 * 2f64.powi(scale - 53);
                        if b & 2 == 2 { -m } else { m }
                    }
                })
                .collect();
            let hi = f64::from(hi_bits) * 2f64.powi(scale - 32);
            let (lo, offset) = (-hi / 3.0, hi / 7.0);
            let spacing = 2f64.powi(exponent as i32);
            let fast = super::lattice_column(&values, lo, hi, offset, spacing, power);
            for (v, f) in values.iter().zip(&fast) {
                let exact = lattice_value(*v, lo, hi, offset, spacing, power).unwrap_or(0);
                proptest::prop_assert_eq!(*f, exact, "{} on [{}, {}]", v, lo, hi);
            }
        }
    }

    #[test]
    fn the_fast_rounding_is_f64_round_at_the_edges() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            4503599627370497.0,
            9223372036854774784.0,
            -9223372036854775808.0,
            9223372036854775808.0,
            LIMIT,
            -LIMIT,
            1e-300,
        ];
        for y in edges {
            assert_eq!(super::round_half_away(y), y.round() as i128, "{y}");
        }
    }

    #[test]
    fn clamps_rounds_and_treats_nan_as_null() {
        assert_eq!(lattice_value(f64::NAN, 0.0, 10.0, 0.0, 1.0, 1), None);
        assert_eq!(
            lattice_value(f64::INFINITY, 0.0, 10.0, 0.0, 1.0, 1),
            Some(10)
        );
        assert_eq!(
            lattice_value(f64::NEG_INFINITY, 0.0, 10.0, 0.0, 1.0, 1),
            Some(0)
        );
        assert_eq!(lattice_value(2.5, 0.0, 10.0, 0.0, 0.5, 1), Some(5));
        assert_eq!(lattice_value(7.0, 0.0, 10.0, 5.0, 1.0, 2), Some(4));
        assert_eq!(
            lattice_value(-3.0, -10.0, 10.0, 0.0, 2.0, 1),
            Some(-2),
            "half away from zero"
        );
    }

    #[tokio::test]
    async fn the_function_maps_null_and_nan_to_null_and_clamps_infinities() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
            super::ToLattice::new(),
        ));
        let sql = "SELECT CAST(privagg_to_lattice(x, 0.0, 10.0, 0.0, 0, 1) AS VARCHAR) AS v FROM \
                   (VALUES (1.5), (NULL), ('NaN'::DOUBLE), ('inf'::DOUBLE), ('-inf'::DOUBLE), (-2.5)) t(x)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let values: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with('|'))
            .skip(1)
            .map(|l| l.trim_matches(|c| c == '|' || c == ' '))
            .collect();
        assert_eq!(values, ["2", "", "", "10", "0", "0"], "{text}");
    }
}
