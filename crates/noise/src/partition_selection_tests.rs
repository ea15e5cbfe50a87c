use super::*;
use crate::accuracy::clopper_pearson_lower;
use rand::SeedableRng;
use rand::rngs::StdRng;

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

/// The thresholds for selecting on a released unit count: a one-unit group
/// reaches τ with probability at most δ/k, exactly (tail summed from the
/// PMF), and τ is the smallest such integer (τ − 1 would exceed δ/k).
#[test]
fn count_thresholds_keep_a_one_unit_group_at_most_at_delta_over_k() {
    let tail_laplace = |b: f64, from: i64| -> f64 {
        (from..from + 200_000)
            .map(|z| crate::discrete_laplace_pmf(b, z))
            .sum()
    };
    let tail_gaussian = |sigma: f64, from: i64| -> f64 {
        let m = (60.0 * sigma) as i64 + 10;
        let total: f64 = (-m..=m)
            .map(|z| crate::discrete_gaussian_weight(sigma, z))
            .sum();
        (from..=m)
            .map(|z| crate::discrete_gaussian_weight(sigma, z))
            .sum::<f64>()
            / total
    };
    for (e, d, k) in [(1.0, 1e-5, 1u32), (0.5, 1e-6, 5), (3.0, 1e-3, 2)] {
        let bound = d / f64::from(k);
        let sens = L1Sensitivity::new(f64::from(k)).expect("k");
        let laplace = LaplaceMechanism::calibrate_integer(&eps(e), &sens).expect("laplace");
        let tau = laplace_count_threshold(&laplace, &delta(d), k).expect("tau");
        // P[1 + Z >= tau] = P[Z >= tau - 1].
        let tau = i64::try_from(tau).expect("small");
        let b = laplace.scale();
        assert!(tail_laplace(b, tau - 1) <= bound, "laplace {e} {d} {k}");
        assert!(
            tail_laplace(b, tau - 2) > bound,
            "laplace {e} {d} {k}: not the smallest"
        );
        let l2 = L2Sensitivity::sqrt_of(u64::from(k)).expect("k");
        let gaussian =
            GaussianMechanism::calibrate_integer(&eps(e), &delta(d), &l2).expect("gaussian");
        let tau = gaussian_count_threshold(&gaussian, &delta(d), k).expect("tau");
        let tau = i64::try_from(tau).expect("small");
        let sigma = gaussian.sigma();
        assert!(
            tail_gaussian(sigma, tau - 1) <= bound,
            "gaussian {e} {d} {k}"
        );
    }
}
