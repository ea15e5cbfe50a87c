//! Goodness-of-fit helpers for the statistical tests of the samplers.

/// Upper critical value of χ² with `df` degrees of freedom at level α,
/// by the Wilson–Hilferty approximation (`z` is the standard-normal quantile).
pub fn chi_square_critical(df: usize, z: f64) -> f64 {
    let k = df as f64;
    let h = 2.0 / (9.0 * k);
    k * (1.0 - h + z * h.sqrt()).powi(3)
}

/// χ² goodness of fit of integer `samples` against a distribution given by its
/// CDF, over about `bins` bins of roughly equal expected mass.
/// Returns `(statistic, degrees_of_freedom)`.
pub fn chi_square(
    samples: &[i128],
    cdf: impl Fn(i128) -> f64,
    bins: usize,
    search: i128,
) -> (f64, usize) {
    // Bin edges: the smallest x with cdf(x) >= j/bins, deduplicated.
    let mut edges: Vec<i128> = Vec::new();
    for j in 1..bins {
        let target = j as f64 / bins as f64;
        let (mut lo, mut hi) = (-search, search);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cdf(mid) >= target {
                hi = mid
            } else {
                lo = mid + 1
            }
        }
        if edges.last() != Some(&lo) {
            edges.push(lo);
        }
    }
    // Bins: (-inf, e0], (e0, e1], ..., (e_last, inf).
    let mut expected = Vec::with_capacity(edges.len() + 1);
    let mut prev = 0.0;
    for e in &edges {
        let c = cdf(*e);
        expected.push(c - prev);
        prev = c;
    }
    expected.push(1.0 - prev);
    let mut observed = vec![0u64; expected.len()];
    for s in samples {
        let idx = edges.partition_point(|e| e < s);
        observed[idx] += 1;
    }
    let n = samples.len() as f64;
    let stat = observed
        .iter()
        .zip(&expected)
        .filter(|(_, e)| **e > 0.0)
        .map(|(o, e)| {
            let exp = e * n;
            (*o as f64 - exp).powi(2) / exp
        })
        .sum();
    (stat, expected.len() - 1)
}

/// CDF of the discrete Laplace with scale `b`.
pub fn laplace_cdf(b: f64, x: i128) -> f64 {
    let q_pow = |k: f64| (-k / b).exp();
    let q = q_pow(1.0);
    if x >= 0 {
        1.0 - q_pow(x as f64 + 1.0) / (1.0 + q)
    } else {
        q_pow(-(x as f64)) / (1.0 + q)
    }
}

/// CDF of the discrete Gaussian with parameter σ: exact summation for small σ,
/// the continuity-corrected normal CDF for large σ (error far below 1e-12 there).
pub fn gaussian_cdf(sigma: f64) -> impl Fn(i128) -> f64 {
    let table: Option<(i128, Vec<f64>)> = (sigma <= 1000.0).then(|| {
        let m = (40.0 * sigma).ceil() as i128 + 10;
        let weights: Vec<f64> = (-m..=m)
            .map(|x| (-((x * x) as f64) / (2.0 * sigma * sigma)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w;
                acc / total
            })
            .collect();
        (m, cdf)
    });
    move |x: i128| match &table {
        Some((m, cdf)) => {
            if x < -m {
                0.0
            } else if x >= *m {
                1.0
            } else {
                cdf[(x + m) as usize]
            }
        }
        None => 0.5 * libm::erfc(-(x as f64 + 0.5) / (sigma * std::f64::consts::SQRT_2)),
    }
}

/// Asserts a good fit at α ≈ 1e-4 and that a 6%-off scale is rejected.
pub fn assert_fit_and_power(
    samples: &[i128],
    cdf_true: impl Fn(i128) -> f64,
    cdf_wrong: impl Fn(i128) -> f64,
    search: i128,
    label: &str,
) {
    let z = 3.719; // standard-normal quantile of 1 - 1e-4
    let (stat, df) = chi_square(samples, cdf_true, 40, search);
    let crit = chi_square_critical(df, z);
    assert!(
        stat < crit,
        "{label}: chi2 {stat:.1} >= critical {crit:.1} (df {df}) against the true distribution"
    );
    let (stat, df) = chi_square(samples, cdf_wrong, 40, search);
    let crit = chi_square_critical(df, z);
    assert!(
        stat > crit,
        "{label}: negative control passed (chi2 {stat:.1} < {crit:.1}): the test has no power"
    );
}
