//! `AVG(x)`: the mean of a bounded value, as `mid + S/n` from two noisy
//! components: the count `n` of values and the sum `S` of values centred on
//! the bounds' midpoint `mid`.
//!
//! Privacy claim: values are clamped to `[lower, upper]` and centred, so a
//! row adds at most `half = (upper − lower)/2` to `S`; a unit's rows in a
//! group are reweighted to at most `L∞` rows' worth (`privagg_cap`), and its
//! count is capped at `L∞`. After L0 bounding the L1 sensitivities are
//! `k·L∞` (count) and `k·L∞·half` (centred sum, on the lattice: computed with
//! the lattice function itself); each gets half of the aggregate's ε and
//! integer Laplace noise, so the pair is ε-DP by basic composition. The
//! division and clamping to the bounds are post-processing.

use std::sync::Arc;

use datafusion::logical_expr::Expr;
use privagg_noise::{ConfidenceInterval, SecureRng};

use super::component::{
    ComponentKind, centred_bound, count_component, distinct_bounds, labelled_widths,
    lattice_component,
};
use super::exprs::{cap, lattice, lattice_present, least};
use super::{
    AggCall, AggregatePlan, Call, Component, Contribution, DpAggregate, Explained, GroupInput,
    GroupRelease, OutputAccuracy, Partial, Released, Share,
};
use crate::error::Result;

/// `AVG(x)`.
#[derive(Debug)]
pub(super) struct Mean;

/// `AVG(x)` / `MEAN(x)`.
pub(super) fn recognise(call: &Call<'_>) -> Option<Result<Arc<dyn DpAggregate>>> {
    matches!(call.name, "avg" | "mean").then(|| Ok(Arc::new(Mean) as Arc<dyn DpAggregate>))
}

/// The count and the centred sums (`powers`: 1 for Σ(x − mid), 2 for
/// Σ(x − mid)²) of a value aggregate, each with an equal part of `share`.
pub(super) fn centred_components(
    call: &AggCall,
    share: &Share,
    b: Contribution,
    column: &dyn Fn(&str) -> String,
    powers: &[i64],
) -> Result<Vec<Component>> {
    let (lo, hi) = distinct_bounds(call)?;
    let half = (hi - lo) / 2.0;
    let rows = f64::from(b.max_rows);
    let e = share.split(1 + powers.len())?;
    let mut parts = vec![count_component(
        column("count"),
        &e,
        b.max_groups,
        b.max_rows,
    )?];
    for &power in powers {
        let (kind, suffix) = if power == 1 {
            (ComponentKind::NormalizedSum, "nsum")
        } else {
            (ComponentKind::NormalizedSquares, "nsq")
        };
        parts.push(lattice_component(
            kind,
            column(suffix),
            &e,
            rows * half.powi(power as i32),
            b.max_groups,
            &|r| i128::from(b.max_rows) * centred_bound(lo, hi, r, power),
        )?);
    }
    Ok(parts)
}

/// Row partials of [`centred_components`]: 1 per non-NULL, non-NaN value,
/// then the centred value (or its square) on each component's lattice.
pub(super) fn centred_partials(plan: &AggregatePlan) -> Result<Vec<Partial>> {
    let (lo, hi) = plan.call.bounds.unwrap_or((0.0, 0.0));
    let mid = (lo + hi) / 2.0;
    let value = plan
        .call
        .value
        .clone()
        .unwrap_or_else(|| datafusion::logical_expr::lit(1i64));
    let mut out = Vec::new();
    for c in &plan.components {
        let (row, is_count) = match c.kind {
            ComponentKind::Count => (lattice_present(&value)?, true),
            ComponentKind::NormalizedSquares => {
                (lattice(&value, lo, hi, mid, c.grid.exponent(), 2), false)
            }
            _ => (lattice(&value, lo, hi, mid, c.grid.exponent(), 1), false),
        };
        out.push(Partial { row, is_count });
    }
    Ok(out)
}

/// A unit's contributions to [`centred_components`]: its count capped at
/// `L∞`, its centred sums reweighted to at most `L∞` rows' worth.
pub(super) fn centred_contributions(partials: &[Expr], b: Contribution) -> Vec<Expr> {
    let Some(count) = partials.first() else {
        return Vec::new();
    };
    let mut out = vec![least(count.clone(), i64::from(b.max_rows))];
    out.extend(
        partials[1..]
            .iter()
            .map(|p| cap(p.clone(), count.clone(), b.max_rows, 0)),
    );
    out
}

/// The range of `x / n` over the intervals of `x` and of `n` (n ≥ 1).
pub(super) fn ratio_range(x: &ConfidenceInterval, n: &ConfidenceInterval) -> [f64; 4] {
    let (n_lo, n_hi) = (n.low.max(1.0), n.high.max(1.0));
    [x.low / n_lo, x.low / n_hi, x.high / n_lo, x.high / n_hi]
}

/// The smallest and largest of some numbers.
pub(super) fn min_max(xs: &[f64]) -> (f64, f64) {
    (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

impl DpAggregate for Mean {
    fn bounding(&self, call: &AggCall, unit: &str, rows: u32) -> Option<String> {
        super::clamped_values(call, unit, rows)
    }

    fn value_range(&self, call: &AggCall) -> Option<f64> {
        super::bounds_width(call)
    }

    fn calibrate(
        &self,
        call: &AggCall,
        share: &Share,
        b: Contribution,
        column: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Component>> {
        centred_components(call, share, b, column, &[1])
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
        Ok(Box::new(MeanRelease { plan, confidence }))
    }

    /// `mid + S/n` errs by at most `(W_S + half·W_n) / n` to first order.
    fn explain(&self, plan: &AggregatePlan) -> Result<Explained> {
        let components = labelled_widths(plan)?;
        let of = |i: usize| components.get(i).map_or(f64::NAN, |(_, w)| *w);
        let half = plan.call.bounds.map_or(0.0, |(lo, hi)| (hi - lo) / 2.0);
        let total = of(1) + half * of(0);
        Ok(Explained {
            output: OutputAccuracy {
                aggregate: plan.call.label.clone(),
                half_width: None,
                half_width_times_values: Some(total),
                rank_radius: None,
                description: per_values(total),
            },
            components,
        })
    }
}

/// "about ±t / n" as explain words an accuracy that shrinks with the group.
pub(super) fn per_values(total: f64) -> String {
    format!(
        "about ±{total:.1} / n for a group of n values (±{:.2} at n = 1,000)",
        total / 1000.0
    )
}

struct MeanRelease<'a> {
    plan: &'a AggregatePlan,
    confidence: f64,
}

impl GroupRelease for MeanRelease<'_> {
    fn release(&self, group: &GroupInput<'_>, rng: &mut SecureRng) -> Result<Released> {
        let (Some(cc), Some(cs), [n_exact, s_exact, ..]) = (
            self.plan.components.first(),
            self.plan.components.get(1),
            group.sums,
        ) else {
            return Ok((None, None));
        };
        let (lo, hi) = self.plan.call.bounds.unwrap_or((0.0, 0.0));
        let mid = (lo + hi) / 2.0;
        // Each of the two parts at (1 + c)/2, so both hold with probability ≥ c.
        let part = (1.0 + self.confidence) / 2.0;
        let (count, count_ci) = cc.release(*n_exact, part, rng)?;
        let (nsum, nsum_ci) = cs.release(*s_exact, part, rng)?;
        let mean = (mid + nsum / count.max(1.0)).clamp(lo, hi);
        let (low, high) = min_max(&ratio_range(&nsum_ci, &count_ci));
        Ok((
            Some(mean),
            Some(ConfidenceInterval {
                low: (mid + low).clamp(lo, hi),
                high: (mid + high).clamp(lo, hi),
                confidence: self.confidence,
            }),
        ))
    }
}
