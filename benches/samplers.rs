//! Samples per second of the exact samplers, with the production RNG.
//!
//! `cargo bench --bench samplers` — results are reported in docs/performance.md.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use privagg_noise::exact::exact_binary;
use privagg_noise::{DiscreteGaussian, DiscreteLaplace, NoiseScale, SecureRng};

const BATCH: u64 = 10_000;

fn scales() -> Vec<(&'static str, f64)> {
    vec![
        ("1", 1.0),
        ("10", 10.0),
        ("1e3", 1e3),
        ("2^20", 2f64.powi(20)),
        ("2^40 grid", 1.5 * 2f64.powi(40)),
        ("2^70 bigint", 2f64.powi(70)),
    ]
}

/// Draws a batch of samples and folds them so nothing is optimised away.
fn draw_batch(mut sample: impl FnMut() -> i128) -> i128 {
    let acc = (0..BATCH).fold(0i128, |acc, _| acc.wrapping_add(sample()));
    black_box(acc)
}

fn discrete_laplace(c: &mut Criterion) {
    let mut group = c.benchmark_group("discrete_laplace");
    group.throughput(Throughput::Elements(BATCH));
    let mut rng = SecureRng::from_os();
    for (name, scale) in scales() {
        let Ok(sampler) = NoiseScale::new(scale).and_then(|s| DiscreteLaplace::new(&s)) else {
            continue;
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| draw_batch(|| sampler.sample(&mut rng)))
        });
    }
    group.finish();
}

fn discrete_gaussian(c: &mut Criterion) {
    let mut group = c.benchmark_group("discrete_gaussian");
    group.throughput(Throughput::Elements(BATCH));
    let mut rng = SecureRng::from_os();
    for (name, sigma) in scales().into_iter().take(5) {
        let Some(variance) = exact_binary(sigma * sigma) else {
            continue;
        };
        let Ok(sampler) = DiscreteGaussian::from_variance(variance) else {
            continue;
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| draw_batch(|| sampler.sample(&mut rng)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = discrete_laplace, discrete_gaussian
}
criterion_main!(benches);
