use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::test_stats::{chi_square, chi_square_critical};

fn eps(x: f64) -> Epsilon {
    Epsilon::new(x).expect("valid epsilon")
}

/// Every bin's score for target `t`, from the runs.
fn bin_scores(q: &ExponentialQuantile, weights: &[(u64, u64)], t: &BigRational) -> Vec<f64> {
    let mut out = Vec::new();
    for run in q.runs(weights, t) {
        let s = crate::exact::to_f64_up(&run.score);
        out.extend(std::iter::repeat_n(s, run.len as usize));
    }
    out
}

#[test]
fn draws_follow_the_exponential_mechanism_exactly() {
    // 8 bins, weights in bins 2 and 5; the draw's frequencies against
    // exp(−s/b) / Σ exp(−s/b), and a negative control at another scale.
    let q = ExponentialQuantile::new(0.0, 8.0, 8, 0.5, &eps(1.0), 1).expect("valid");
    let weights = q.sorted(&[(2, 6), (5, 8)]).expect("bins");
    let t = BigRational::from_integer(7.into());
    let scores = bin_scores(&q, &weights, &t);
    let b = crate::exact::to_f64_up(&q.point_scale);
    // The CDF over bins at scale b.
    let cdf = |b: f64| {
        let raw: Vec<f64> = scores.iter().map(|s| (-s / b).exp()).collect();
        let sum: f64 = raw.iter().sum();
        move |x: i128| -> f64 {
            let upto = usize::try_from(x + 1).unwrap_or(0).min(raw.len());
            raw[..upto].iter().sum::<f64>() / sum
        }
    };
    let mut rng = StdRng::seed_from_u64(5); // test-only
    let samples: Vec<i128> = (0..40_000)
        .map(
            |_| match q.draw(&weights, &t, &q.point_scale, None, &mut rng) {
                Choice::Bin(j) => i128::from(j),
                Choice::Extra => panic!("no extra candidate was offered"),
            },
        )
        .collect();
    let (fit, df) = chi_square(&samples, cdf(b), 8, 16);
    let critical = chi_square_critical(df, 3.09);
    assert!(fit < critical, "χ² {fit} ≥ {critical} ({df} df)");
    let (control, df) = chi_square(&samples, cdf(b * 1.5), 8, 16);
    assert!(
        control > chi_square_critical(df, 3.09),
        "the test cannot tell scale {b} from {}",
        b * 1.5
    );
}

#[test]
fn the_interval_covers_the_quantile_at_its_confidence() {
    // 300 values (as a day of restaurant visits), one per unit, k·L∞ = 3.
    let w = 1024u64;
    let q = ExponentialQuantile::new(0.0, 60.0, 4096, 0.5, &eps(2.0), 3 * w).expect("valid");
    let values: Vec<f64> = (0..300).map(|i| f64::from((i * 37) % 61)).collect();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[149] + sorted[150]) / 2.0;
    let bins: Vec<(u64, u64)> = values
        .iter()
        .map(|v| (((v / 60.0) * 4096.0).floor().min(4095.0) as u64, w))
        .collect();
    let mut rng = StdRng::seed_from_u64(8); // test-only
    let (mut covered, mut width, n) = (0, 0.0, 2_000);
    for _ in 0..n {
        let e = q.release(&bins, w, 0.9, &mut rng).expect("release");
        assert!(e.interval.low <= e.value && e.value <= e.interval.high);
        if e.interval.low <= median && median <= e.interval.high {
            covered += 1;
        }
        width += e.interval.high - e.interval.low;
    }
    let rate = f64::from(covered) / f64::from(n);
    assert!(
        rate >= 0.88,
        "coverage {rate} below 0.9 (minus sampling slack)"
    );
    // Not the whole range: the ends land near ranks 150 ± r.
    assert!(
        width / f64::from(n) < 35.0,
        "mean width {}",
        width / f64::from(n)
    );
}

#[test]
fn an_empty_group_gets_the_whole_range() {
    // No bin is near the ends' targets: each end is the domain's edge except
    // with probability at most α/2 (here 0.025), so both at least 95% of the time.
    let q = ExponentialQuantile::new(-5.0, 5.0, 4096, 0.25, &eps(2.0), 1024).expect("valid");
    let mut rng = StdRng::seed_from_u64(9); // test-only
    let mut whole = 0;
    for _ in 0..200 {
        let e = q.release(&[], 1024, 0.95, &mut rng).expect("release");
        assert!((-5.0..=5.0).contains(&e.value));
        assert!(e.interval.low <= e.value && e.value <= e.interval.high);
        whole += usize::from(e.interval.low == -5.0 && e.interval.high == 5.0);
    }
    assert!(whole >= 180, "whole range {whole}/200 times");
}

#[test]
fn invalid_parameters_are_refused() {
    let e = eps(1.0);
    assert!(ExponentialQuantile::new(1.0, 1.0, 16, 0.5, &e, 1).is_err());
    assert!(ExponentialQuantile::new(0.0, f64::NAN, 16, 0.5, &e, 1).is_err());
    assert!(ExponentialQuantile::new(0.0, 1.0, 0, 0.5, &e, 1).is_err());
    assert!(ExponentialQuantile::new(0.0, 1.0, 16, 1.5, &e, 1).is_err());
    assert!(ExponentialQuantile::new(0.0, 1.0, 16, f64::NAN, &e, 1).is_err());
    assert!(ExponentialQuantile::new(0.0, 1.0, 16, 0.5, &e, 0).is_err());
    let q = ExponentialQuantile::new(0.0, 1.0, 16, 0.5, &e, 1).expect("valid");
    let mut rng = StdRng::seed_from_u64(1); // test-only
    assert!(q.release(&[(16, 1)], 1, 0.95, &mut rng).is_err());
    assert!(q.release(&[(3, 1)], 1, 1.0, &mut rng).is_err());
}

#[test]
fn the_loss_is_the_epsilon_and_the_radius_public() {
    let q = ExponentialQuantile::new(0.0, 60.0, 4096, 0.5, &eps(2.0), 3072).expect("valid");
    assert_eq!(q.privacy_loss().epsilon_f64(), 2.0);
    // b_end = 2·0.5·3072/(2·2/5) = 3840; r = b(ln 100 + ln(2·4096/0.05)).
    let r = q.end_radius(0.95).expect("radius");
    let expected = 3840.0 * ((100.0f64).ln() + (2.0 * 4096.0 / 0.05f64).ln());
    assert!((r / expected - 1.0).abs() < 1e-6, "{r} vs {expected}");
    assert_eq!(q.rank_radius(0.95).expect("radius"), 2.0 * r);
}

proptest! {
    /// Adding one unit (weight ≤ D in one group) moves every bin's score by
    /// at most max(p, 1 − p)·D: the sensitivity the calibration assumes.
    #[test]
    fn one_unit_moves_every_score_by_at_most_the_sensitivity(
        data in proptest::collection::vec((0u64..32, 1u64..5), 0..20),
        unit in proptest::collection::vec((0u64..32, 0u64..3), 1..4),
        p in 0.0f64..=1.0,
        shift in -3i64..3,
    ) {
        let d: u64 = unit.iter().map(|(_, w)| w).sum();
        let q = ExponentialQuantile::new(0.0, 1.0, 32, p, &eps(1.0), d.max(1)).expect("valid");
        let with: Vec<(u64, u64)> = data.iter().chain(&unit).copied().collect();
        let a = q.sorted(&data).expect("bins");
        let b = q.sorted(&with).expect("bins");
        let w = BigRational::from_integer(1.into());
        let target = |v: &[(u64, u64)]| {
            let n: u64 = v.iter().map(|(_, w)| w).sum();
            &q.p * (BigRational::from_integer(n.into()) - &w)
                + BigRational::from_integer(shift.into())
        };
        let (sa, sb) = (bin_scores(&q, &a, &target(&a)), bin_scores(&q, &b, &target(&b)));
        let bound = p.max(1.0 - p) * d as f64 + 1e-9;
        for (x, y) in sa.iter().zip(&sb) {
            prop_assert!((x - y).abs() <= bound, "{x} vs {y} > {bound}");
        }
    }
}

/// The SQL rule picks the mechanism with the smaller 95% rank radius at a
/// percentile's own ε (the tree: height 4, branching 16, Δ₁ = 4·k·L∞·W).
/// `cargo test -p privagg-noise --lib radius -- --nocapture` prints the ratios.
#[test]
fn the_exponential_radius_is_below_a_trees_at_every_p_and_epsilon_tried() {
    let tree = crate::QuantileTree::new(0.0, 60.0, 4, 16).expect("tree");
    let (mut lowest, mut highest) = (f64::INFINITY, 0.0f64);
    for e in [0.05, 0.1, 0.5, 1.0, 2.0, 10.0] {
        for p in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99] {
            for units in [1u64, 3, 10] {
                let weight = units * 1024;
                let l1 = crate::L1Sensitivity::new((4 * weight) as f64).expect("Δ");
                let laplace =
                    crate::LaplaceMechanism::calibrate_integer(&eps(e), &l1).expect("tree noise");
                let tree_radius = tree
                    .rank_radii(&laplace, 0.95)
                    .expect("radii")
                    .rank_radius(p);
                let exp_radius = ExponentialQuantile::new(0.0, 60.0, 4096, p, &eps(e), weight)
                    .expect("mechanism")
                    .rank_radius(0.95)
                    .expect("radius");
                let ratio = tree_radius / exp_radius;
                assert!(
                    ratio > 1.0,
                    "ε {e}, p {p}, k·L∞ {units}: tree {tree_radius} vs {exp_radius}"
                );
                lowest = lowest.min(ratio);
                highest = highest.max(ratio);
            }
        }
    }
    println!("tree radius / exponential radius: {lowest:.2} to {highest:.2}");
}
