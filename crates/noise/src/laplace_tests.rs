use super::*;
use crate::params::Delta;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn eps(x: f64) -> Epsilon {
    Epsilon::new(x).expect("valid epsilon")
}

fn l1(x: f64) -> L1Sensitivity {
    L1Sensitivity::new(x).expect("valid sensitivity")
}

#[test]
fn outputs_lie_on_one_grid_whatever_the_input() {
    // The Mironov attack looks for outputs reachable from x but not from x + Δ.
    let mech = LaplaceMechanism::calibrate(&eps(1.0), &l1(1.0)).expect("calibrate");
    let r = mech.granularity();
    let mut rng = StdRng::seed_from_u64(31); // test-only
    let from = |x: f64, rng: &mut StdRng| -> Vec<f64> {
        (0..20_000)
            .map(|_| mech.release(x, rng).expect("finite"))
            .collect()
    };
    let a = from(0.1, &mut rng);
    let b = from(1.1, &mut rng);
    for v in a.iter().chain(&b) {
        assert_eq!((v / r).fract(), 0.0, "{v} is not a multiple of r = {r}");
    }
    // Both inputs reach the same lattice: residues mod r are all zero, and the
    // outputs overlap substantially over the common range.
    let lo = a.iter().chain(&b).cloned().fold(f64::INFINITY, f64::min);
    assert!(lo.is_finite());
    let bucket = |v: &f64| ((v - lo) / 0.5) as i64;
    let sa: std::collections::HashSet<i64> = a.iter().map(bucket).collect();
    let sb: std::collections::HashSet<i64> = b.iter().map(bucket).collect();
    assert!(sa.intersection(&sb).count() > 10);
}

#[test]
fn confidence_intervals_cover_at_their_level() {
    let mech = LaplaceMechanism::calibrate(&eps(0.5), &l1(10.0)).expect("calibrate");
    let mut rng = StdRng::seed_from_u64(32); // test-only
    let truth = 123.456;
    let trials = 20_000;
    let covered = (0..trials)
        .filter(|_| {
            let v = mech.release(truth, &mut rng).expect("finite");
            let ci = mech.confidence_interval(v, 0.95).expect("ci");
            ci.low <= truth && truth <= ci.high
        })
        .count();
    let rate = covered as f64 / trials as f64;
    assert!((0.94..0.96).contains(&rate), "coverage {rate}");
    // The half-width is the exact discrete quantile: b·ln(20) for the continuous analogue.
    let expected = mech.scale() * 20f64.ln();
    let w = mech.half_width(0.95).expect("width");
    assert!((w - expected).abs() / expected < 1e-3, "{w} vs {expected}");
}

#[test]
fn integer_mechanism_needs_integer_sensitivity() {
    assert!(LaplaceMechanism::calibrate_integer(&eps(1.0), &l1(1.5)).is_err());
    let mech = LaplaceMechanism::calibrate_integer(&eps(1.0), &l1(2.0)).expect("calibrate");
    assert_eq!(mech.granularity(), 1.0);
    assert_eq!(mech.scale(), 2.0);
    assert_eq!(mech.privacy_loss(&l1(2.0)).epsilon(), eps(1.0).as_ratio());
    let mut rng = StdRng::seed_from_u64(33); // test-only
    let mean: f64 = (0..10_000)
        .map(|_| mech.release_integer(0, &mut rng) as f64)
        .sum::<f64>()
        / 1e4;
    assert!(mean.abs() < 0.2, "{mean}");
}

#[test]
fn bad_values_and_confidences() {
    let mech = LaplaceMechanism::calibrate(&eps(1.0), &l1(1.0)).expect("calibrate");
    let mut rng = StdRng::seed_from_u64(34); // test-only
    assert_eq!(
        mech.release(f64::NAN, &mut rng),
        Err(NoiseError::NotANumber)
    );
    let inf = mech.release(f64::INFINITY, &mut rng).expect("saturates");
    assert!(inf.is_finite() && inf > 0.0);
    for c in [0.0, 1.0, f64::NAN, -0.5, 2.0] {
        assert!(mech.half_width(c).is_err(), "{c}");
    }
}

proptest! {
    #[test]
    fn calibrated_loss_never_exceeds_epsilon(e in 1e-6f64..100.0, s in 1e-6f64..1e9) {
        let epsilon = eps(e);
        let sens = l1(s);
        let mech = LaplaceMechanism::calibrate(&epsilon, &sens).expect("calibrate");
        let loss = mech.privacy_loss(&sens);
        prop_assert!(loss.fits(&epsilon, &Delta::zero()));
        // Tight: the grid costs at most a relative 2^-39.
        prop_assert!(loss.epsilon_f64() > e * (1.0 - 1e-9));
    }

    #[test]
    fn integer_loss_is_exact(e in 1e-6f64..100.0, s in 1u32..1_000_000) {
        let epsilon = eps(e);
        let sens = l1(f64::from(s));
        let mech = LaplaceMechanism::calibrate_integer(&epsilon, &sens).expect("calibrate");
        prop_assert!(mech.privacy_loss(&sens).fits(&epsilon, &Delta::zero()));
    }
}
