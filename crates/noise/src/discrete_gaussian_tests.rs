use super::*;
use crate::test_stats::{assert_fit_and_power, gaussian_cdf};
use num_rational::BigRational;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn check_sigma(sigma: f64, n: usize, seed: u64) {
    let variance = crate::exact::exact_binary(sigma * sigma).expect("finite");
    let g = DiscreteGaussian::from_variance(variance).expect("sampler");
    let mut rng = StdRng::seed_from_u64(seed); // test-only
    let samples: Vec<i128> = (0..n).map(|_| g.sample(&mut rng)).collect();
    let search = (sigma * 60.0) as i128 + 10;
    assert_fit_and_power(
        &samples,
        gaussian_cdf(sigma),
        gaussian_cdf(sigma * 1.06),
        search,
        &format!("discrete Gaussian sigma {sigma}"),
    );
}

#[test]
fn fits_exact_pmf_at_small_sigmas() {
    check_sigma(0.5, 200_000, 21);
    check_sigma(1.0, 200_000, 22);
    check_sigma(10.0, 100_000, 23);
}

#[test]
fn fits_exact_pmf_at_large_sigmas() {
    check_sigma(1000.0, 100_000, 24);
    check_sigma(1_048_576.0, 100_000, 25);
    check_sigma(1_099_511_627_776.0, 50_000, 26);
}

#[test]
fn rejects_non_positive_variance() {
    assert!(DiscreteGaussian::from_variance(BigRational::from_integer(0.into())).is_err());
    assert!(DiscreteGaussian::from_variance(BigRational::from_integer((-4).into())).is_err());
}

#[test]
fn weight_is_symmetric() {
    assert_eq!(
        discrete_gaussian_weight(2.0, 3),
        discrete_gaussian_weight(2.0, -3)
    );
}
