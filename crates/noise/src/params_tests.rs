use super::*;
use crate::exact::ratio;
use proptest::prelude::*;

#[test]
fn epsilon_rejects_bad_values_with_clear_messages() {
    for bad in [
        0.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e-12,
        1e6,
    ] {
        let err = Epsilon::new(bad).expect_err("must reject");
        assert!(err.to_string().contains("epsilon"), "{err}");
    }
    assert!("0".parse::<Epsilon>().is_err());
    assert!("abc".parse::<Epsilon>().is_err());
    assert_eq!("0.1".parse::<Epsilon>().ok(), Epsilon::new(0.1).ok());
}

#[test]
fn delta_range() {
    assert!(Delta::new(0.0).is_ok_and(|d| d.is_zero()));
    assert!(Delta::new(1.0).is_err());
    assert!(Delta::new(0.999_999).is_ok());
    assert!(Delta::new(-1e-9).is_err());
    assert!(Delta::new(f64::NAN).is_err());
}

#[test]
fn rho_and_scales() {
    assert!(Rho::new(0.0).is_err());
    assert!(Rho::new(0.5).is_ok());
    assert!(L1Sensitivity::new(0.0).is_err());
    assert!(L1Sensitivity::new(1e300).is_err());
    assert!(L1Sensitivity::new(-1.0).is_err());
    assert!(L2Sensitivity::new(f64::INFINITY).is_err());
    assert!(L2Sensitivity::sqrt_of(0).is_err());
    assert_eq!(
        L2Sensitivity::sqrt_of(4).map(|s| s.squared().clone()).ok(),
        Some(ratio(4, 1))
    );
    assert!(NoiseScale::new(f64::NAN).is_err());
    assert!(NoiseScale::new(0.5).is_ok());
}

#[test]
fn exact_display_and_serde_round_trip() {
    let third = Epsilon::from_ratio(ratio(1, 3)).expect("valid");
    assert_eq!(third.to_string(), "1/3");
    let json = serde_json::to_string(&third).expect("serialize");
    let back: Epsilon = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, third);
    let tiny: Delta = serde_json::from_str("1e-10").expect("number");
    assert_eq!(tiny.to_string(), "0.0000000001");
    assert!(
        serde_json::from_str::<Delta>("1.5").is_err(),
        "serde re-validates"
    );
    assert!(serde_json::from_str::<Epsilon>("\"-2\"").is_err());
}

proptest! {
    #[test]
    fn any_f64_is_valid_epsilon_iff_in_range(x in proptest::num::f64::ANY) {
        let ok = x.is_finite() && (1e-9..=1000.0).contains(&x);
        prop_assert_eq!(Epsilon::new(x).is_ok(), ok);
    }

    #[test]
    fn any_f64_is_valid_delta_iff_in_range(x in proptest::num::f64::ANY) {
        let ok = x.is_finite() && (0.0..1.0).contains(&x);
        prop_assert_eq!(Delta::new(x).is_ok(), ok);
    }

    #[test]
    fn decimal_round_trip(m in 1u64..1_000_000, e in 0u32..9) {
        let x = m as f64 / 10f64.powi(e as i32);
        if let Ok(eps) = Epsilon::new(x) {
            let again: Epsilon = eps.to_string().parse().expect("display parses");
            prop_assert_eq!(again, eps);
        }
    }
}
