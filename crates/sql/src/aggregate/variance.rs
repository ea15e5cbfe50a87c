//! `VAR_POP(x)` and `STDDEV_POP(x)`: `Q/n − (S/n)²` from three noisy
//! components: the count `n`, the centred sum `S` and the centred sum of
//! squares `Q` (values centred on the bounds' midpoint).
//!
//! Privacy claim: as for `AVG` (`mean.rs`), with a third component: a row
//! adds at most `half²` to `Q`, reweighted to at most `L∞` rows' worth per
//! unit and group, so its L1 sensitivity is `k·L∞·half²` (on the lattice,
//! computed with the lattice function itself). Each of the three gets a
//! third of the aggregate's ε; the combination, the clamping to
//! `[0, half²]` and the square root are post-processing.

use std::sync::Arc;

use datafusion::logical_expr::Expr;
use privagg_noise::{ConfidenceInterval, SecureRng};

use super::component::labelled_widths;
use super::mean::{
    centred_components, centred_contributions, centred_partials, min_max, per_values, ratio_range,
};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, OutputAccuracy, Partial, Released, Share,
};
use crate::error::Result;

/// `VAR_POP(x)`, or its square root `STDDEV_POP(x)`.
#[derive(Debug)]
pub(super) struct Variance {
    /// Release the standard deviation.
    root: bool,
}

/// `VAR_POP(x)` / `STDDEV_POP(x)`.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    let root = match call.name {
        "var_pop" => false,
        "stddev_pop" => true,
        _ => return None,
    };
    Some(Ok(Arc::new(Variance { root })))
}

impl DpAggregate for Variance {
    fn bounding(&self, call: &AggCall, unit: &str, rows: u32) -> Option<String> {
        super::clamped_values(call, unit, rows)
    }

    /// A variance of values in `[L, U]` is at most `(U − L)²/4`, its root `(U − L)/2`.
    fn value_range(&self, call: &AggCall) -> Option<f64> {
        let w = super::bounds_width(call)? / 2.0;
        Some(if self.root { w } else { w * w })
    }

    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        centred_components(call, share, b, column, &[1, 2])
    }

    fn partials(&self, plan: &AggregatePlan) -> Result<Vec<Partial>> {
        centred_partials(plan)
    }

    fn contributions(
        &self,
        _plan: &AggregatePlan,
        partials: &[Expr],
        b: Contribution,
    ) -> Result<Vec<Expr>> {
        Ok(centred_contributions(partials, b))
    }

    fn releaser<'a>(
        &'a self,
        plan: &'a AggregatePlan,
        confidence: f64,
    ) -> Result<Box<dyn GroupRelease + 'a>> {
        Ok(Box::new(VarianceRelease {
            plan,
            confidence,
            root: self.root,
        }))
    }

    /// With `|S/n| ≤ half` and `Q/n ≤ half²`, the variance errs by at most
    /// `(W_Q + 2·half·W_S + 3·half²·W_n) / n` to first order.
    fn explain(&self, plan: &AggregatePlan) -> Result<Explained> {
        let components = labelled_widths(plan)?;
        let of = |i: usize| components.get(i).map_or(f64::NAN, |(_, w)| *w);
        let half = plan.call.bounds.map_or(0.0, |(lo, hi)| (hi - lo) / 2.0);
        let total = of(2) + 2.0 * half * of(1) + 3.0 * half * half * of(0);
        let (per, description) = if self.root {
            (
                None,
                format!(
                    "about ±{total:.1} / (2·sd·n) for a group of n values with standard \
                     deviation sd (the variance's ±{total:.1} / n, halved relative to sd)"
                ),
            )
        } else {
            (Some(total), per_values(total))
        };
        Ok(Explained {
            output: OutputAccuracy {
                aggregate: plan.call.label.clone(),
                half_width: None,
                half_width_times_values: per,
                rank_radius: None,
                description,
            },
            components,
        })
    }
}

struct VarianceRelease<'a> {
    plan: &'a AggregatePlan,
    confidence: f64,
    root: bool,
}

impl GroupRelease for VarianceRelease<'_> {
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        let ([cn, cs, cq, ..], [n_exact, s_exact, q_exact, ..]) =
            (self.plan.components.as_slice(), group.sums)
        else {
            return Ok((None, None));
        };
        let (lo, hi) = self.plan.call.bounds.unwrap_or((0.0, 0.0));
        let half = (hi - lo) / 2.0;
        // Each of the three parts at 1 − (1 − c)/3: all hold with probability ≥ c.
        let part = 1.0 - (1.0 - self.confidence) / 3.0;
        let (count, count_ci) = cn.release(*n_exact, part, rng)?;
        let (nsum, nsum_ci) = cs.release(*s_exact, part, rng)?;
        let (nsq, nsq_ci) = cq.release(*q_exact, part, rng)?;
        let n = count.max(1.0);
        let max_var = half * half;
        let var = (nsq / n - (nsum / n).powi(2)).clamp(0.0, max_var);
        let mean_dev = ratio_range(&nsum_ci, &count_ci);
        let dev_sq_max = mean_dev.iter().map(|d| d * d).fold(0.0, f64::max);
        let dev_sq_min = if mean_dev.iter().any(|d| *d <= 0.0) && mean_dev.iter().any(|d| *d >= 0.0)
        {
            0.0
        } else {
            mean_dev.iter().map(|d| d * d).fold(f64::INFINITY, f64::min)
        };
        let (sq_lo, sq_hi) = min_max(&ratio_range(&nsq_ci, &count_ci));
        let var_lo = (sq_lo - dev_sq_max).clamp(0.0, max_var);
        let var_hi = (sq_hi - dev_sq_min).clamp(0.0, max_var);
        let (value, low, high) = if self.root {
            (var.sqrt(), var_lo.sqrt(), var_hi.sqrt())
        } else {
            (var, var_lo, var_hi)
        };
        Ok((
            Some(value),
            Some(ConfidenceInterval {
                low,
                high,
                confidence: self.confidence,
            }),
        ))
    }
}
