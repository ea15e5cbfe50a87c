use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// ln P[X >= x] for X ~ Binomial(n, p), summed in log space. Only used for
/// p <= x/n, where the terms fall from k = x on, so the sum stops once they
/// are 1e-30 of the first.
fn log_upper_tail(n: u64, x: u64, p: f64) -> f64 {
    let ln_term = |k: u64| -> f64 {
        libm::lgamma(n as f64 + 1.0)
            - libm::lgamma(k as f64 + 1.0)
            - libm::lgamma((n - k) as f64 + 1.0)
            + k as f64 * p.ln()
            + (n - k) as f64 * (1.0 - p).ln()
    };
    let first = ln_term(x);
    let mut sum = 0.0;
    for k in x..=n {
        let rel = ln_term(k) - first;
        if rel < -70.0 {
            break;
        }
        sum += rel.exp();
    }
    first + sum.ln()
}

/// The Clopper–Pearson lower confidence bound for a rate `x / n` at one-sided
/// level `alpha`: the p with P[X >= x; n, p] = alpha.
fn clopper_pearson_lower(x: u64, n: u64, alpha: f64) -> f64 {
    if x == 0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, x as f64 / n as f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if log_upper_tail(n, x, mid) < alpha.ln() {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo
}

fn one_unit_keep_rate(sel: &PartitionSelector, trials: u64, seed: u64) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed); // test-only
    (0..trials).filter(|_| sel.keep(1, &mut rng)).count() as u64
}

fn eps(x: f64) -> Epsilon {
    Epsilon::new(x).expect("epsilon")
}

fn delta(x: f64) -> Delta {
    Delta::new(x).expect("delta")
}

/// A selector constructor.
type Build = fn(&Epsilon, &Delta, u32) -> Result<PartitionSelector>;

#[test]
fn one_unit_partitions_are_kept_at_most_at_the_adjusted_delta() {
    // δ is large here only so the rate is measurable; k = 2 halves it.
    let (d, k, trials) = (0.1, 2u32, 200_000u64);
    let adjusted = d / f64::from(k);
    let rules: [(&str, Build); 3] = [
        ("laplace", PartitionSelector::laplace_threshold),
        ("gaussian", PartitionSelector::gaussian_threshold),
        (
            "truncated geometric",
            PartitionSelector::truncated_geometric,
        ),
    ];
    for (i, (name, build)) in rules.iter().enumerate() {
        let sel = build(&eps(1.0), &delta(d), k).expect("selector");
        let kept = one_unit_keep_rate(&sel, trials, 50 + i as u64);
        let lower = clopper_pearson_lower(kept, trials, 1e-4);
        assert!(
            lower <= adjusted,
            "{name}: kept {kept}/{trials}, CP lower bound {lower} > δ/k = {adjusted}"
        );
        // A rule that forgot the L0 adjustment (k = 1) must be caught by the same test.
        let unadjusted = build(&eps(1.0), &delta(d), 1).expect("selector");
        let kept = one_unit_keep_rate(&unadjusted, trials, 60 + i as u64);
        if *name == "truncated geometric" {
            // π(1) = δ exactly, so this rule's rate sits right at δ: the
            // unadjusted rule must be detected as exceeding δ/k.
            let lower = clopper_pearson_lower(kept, trials, 1e-4);
            assert!(
                lower > adjusted,
                "{name}: the negative control was not detected ({lower})"
            );
        }
    }
}

#[test]
fn truncated_geometric_first_step_is_delta() {
    let sel = PartitionSelector::truncated_geometric(&eps(1.0), &delta(1e-5), 1).expect("selector");
    let Rule::TruncatedGeometric { keep } = &sel.rule else {
        unreachable!("rule")
    };
    assert!((keep[1].0 - 1e-5).abs() < 1e-10);
    // π is non-decreasing and satisfies the DP constraints between neighbours.
    let (e, d) = (1.0f64, 1e-5);
    for w in keep.windows(2) {
        let ((p0, c0), (p1, c1)) = (w[0], w[1]);
        assert!(p1 >= p0);
        assert!(p1 <= e.exp() * p0 + d + 1e-15);
        assert!(c0 <= e.exp() * c1 + d + 1e-15);
    }
    assert!(sel.units_for_even_odds() > 5 && sel.units_for_even_odds() < 30);
}

#[test]
fn large_groups_are_kept() {
    let mut rng = StdRng::seed_from_u64(70); // test-only
    for sel in [
        PartitionSelector::laplace_threshold(&eps(1.0), &delta(1e-6), 3),
        PartitionSelector::gaussian_threshold(&eps(1.0), &delta(1e-6), 3),
        PartitionSelector::truncated_geometric(&eps(1.0), &delta(1e-6), 3),
    ] {
        let sel = sel.expect("selector");
        assert!((0..1000).all(|_| sel.keep(10_000, &mut rng)));
        assert!(!(0..1000).any(|_| sel.keep(0, &mut rng)));
    }
}

#[test]
fn invalid_parameters_are_rejected() {
    assert!(PartitionSelector::laplace_threshold(&eps(1.0), &Delta::zero(), 1).is_err());
    assert!(PartitionSelector::gaussian_threshold(&eps(1.0), &delta(1e-6), 0).is_err());
    assert!(PartitionSelector::truncated_geometric(&eps(1.0), &delta(1e-40), 1).is_err());
    let err =
        PartitionSelector::truncated_geometric(&eps(1e-9), &delta(1e-9), 1).expect_err("too small");
    assert!(err.to_string().contains("LAPLACE_THRESHOLD"), "{err}");
}
