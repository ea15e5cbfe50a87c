use super::*;
use crate::test_stats::{assert_fit_and_power, laplace_cdf};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn check_scale(scale: f64, n: usize, seed: u64) {
    let lap = DiscreteLaplace::new(&NoiseScale::new(scale).expect("valid")).expect("sampler");
    let mut rng = StdRng::seed_from_u64(seed); // test-only
    let samples: Vec<i128> = (0..n).map(|_| lap.sample(&mut rng)).collect();
    let search = (scale * 60.0) as i128 + 10;
    assert_fit_and_power(
        &samples,
        |x| laplace_cdf(scale, x),
        |x| laplace_cdf(scale * 1.06, x),
        search,
        &format!("discrete Laplace scale {scale}"),
    );
}

#[test]
fn fits_exact_pmf_at_small_scales() {
    check_scale(0.5, 200_000, 1);
    check_scale(1.0, 200_000, 2);
    check_scale(10.0, 100_000, 3);
}

#[test]
fn fits_exact_pmf_at_large_scales() {
    check_scale(1000.0, 100_000, 4);
    check_scale(1_048_576.0, 100_000, 5); // 2^20
    check_scale(1_099_511_627_776.0 * 1.5, 100_000, 6); // the 2^40 grid
}

#[test]
fn non_dyadic_rational_scale_fits() {
    // b = 10/3, sampled as t = 10, s = 3: exercises the s > 1 path.
    let scale = NoiseScale::from_ratio(crate::exact::ratio(10, 3)).expect("valid");
    let lap = DiscreteLaplace::new(&scale).expect("sampler");
    let mut rng = StdRng::seed_from_u64(8); // test-only
    let samples: Vec<i128> = (0..100_000).map(|_| lap.sample(&mut rng)).collect();
    let b = 10.0 / 3.0;
    assert_fit_and_power(
        &samples,
        |x| laplace_cdf(b, x),
        |x| laplace_cdf(b * 1.06, x),
        400,
        "b = 10/3",
    );
}

#[test]
fn big_integer_fallback_beyond_2_pow_64() {
    let b = 2f64.powi(70);
    let lap = DiscreteLaplace::new(&NoiseScale::new(b).expect("valid")).expect("sampler");
    assert!(matches!(lap.repr, Repr::Big { .. }));
    let mut rng = StdRng::seed_from_u64(9); // test-only
    let samples: Vec<i128> = (0..20_000).map(|_| lap.sample(&mut rng)).collect();
    assert_fit_and_power(
        &samples,
        |x| laplace_cdf(b, x),
        |x| laplace_cdf(b * 1.06, x),
        (b * 60.0) as i128,
        "b = 2^70",
    );
}

#[test]
fn pmf_sums_to_one() {
    let total: f64 = (-2000..=2000).map(|x| discrete_laplace_pmf(3.0, x)).sum();
    assert!((total - 1.0).abs() < 1e-12);
}
