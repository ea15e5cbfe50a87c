//! Admission: does a cost fit a scope's remaining budget? Exact integer
//! arithmetic on [`Amount`]s; see `docs/privacy/composition.md`.

use crate::amount::Amount;
use crate::error::BudgetError;
use crate::scope::{Limit, PrivacyCost, Scope, ScopeBudget, Spent};

/// The spend of `budget` after charging `cost`, if it fits the limit.
///
/// # Errors
/// [`BudgetError::BudgetExhausted`] (with requested and remaining amounts) or
/// [`BudgetError::NeedsZcdp`]; the caller then charges nothing anywhere.
pub fn admit(budget: &ScopeBudget, cost: &PrivacyCost) -> Result<Spent, BudgetError> {
    let exhausted = |requested: String| BudgetError::BudgetExhausted {
        scope: budget.scope.to_string(),
        requested,
        remaining: budget.remaining(),
    };
    let add = |a: Amount, b: Amount| a.checked_add(b);
    let spent = &budget.spent;
    let after = Spent {
        epsilon: add(spent.epsilon, cost.epsilon).ok_or_else(|| exhausted(cost.to_string()))?,
        delta: add(spent.delta, cost.delta).ok_or_else(|| exhausted(cost.to_string()))?,
        rho: add(spent.rho, cost.rho.unwrap_or_default())
            .ok_or_else(|| exhausted(cost.to_string()))?,
    };
    match budget.limit {
        Limit::EpsilonDelta { epsilon, delta } => {
            if after.epsilon > epsilon || after.delta > delta {
                return Err(exhausted(format!(
                    "epsilon {}, delta {}",
                    cost.epsilon, cost.delta
                )));
            }
        }
        Limit::Zcdp { rho, .. } => {
            let Some(cost_rho) = cost.rho else {
                return Err(BudgetError::NeedsZcdp {
                    scope: budget.scope.to_string(),
                });
            };
            if after.rho > rho {
                return Err(exhausted(format!("rho {cost_rho}")));
            }
        }
    }
    Ok(after)
}

/// Checks a cost against every scope; all must admit it.
///
/// # Errors
/// The first scope's refusal.
pub fn admit_all(
    budgets: &[ScopeBudget],
    cost: &PrivacyCost,
) -> Result<Vec<(Scope, Spent)>, BudgetError> {
    budgets
        .iter()
        .map(|b| admit(b, cost).map(|s| (b.scope.clone(), s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Rounding;
    use proptest::prelude::*;

    fn budget(limit: Limit, spent: Spent) -> ScopeBudget {
        ScopeBudget {
            scope: Scope::Analyst("alice".into()),
            limit,
            spent,
        }
    }

    fn amount(text: &str) -> Amount {
        Amount::parse(text, Rounding::Up).expect("valid")
    }

    #[test]
    fn ten_tenths_exhaust_one_exactly() {
        let limit = Limit::EpsilonDelta {
            epsilon: amount("1.0"),
            delta: amount("0"),
        };
        let cost = PrivacyCost::parse("0.1", "0").expect("valid");
        let mut spent = Spent::default();
        for _ in 0..10 {
            spent = admit(&budget(limit, spent), &cost).expect("fits");
        }
        assert_eq!(spent.epsilon, amount("1"));
        let tiny = PrivacyCost::parse("1e-12", "0").expect("valid");
        let err = admit(&budget(limit, spent), &tiny).expect_err("exhausted");
        assert_eq!(
            err.to_string(),
            "budget exhausted for analyst 'alice': requested epsilon 0.000000000001, delta 0, remaining epsilon 0, delta 0"
        );
    }

    #[test]
    fn zcdp_scope_needs_rho() {
        let limit = Limit::Zcdp {
            rho: amount("0.5"),
            delta: amount("1e-6"),
        };
        let no_rho = PrivacyCost::parse("0.1", "1e-7").expect("valid");
        assert!(matches!(
            admit(&budget(limit, Spent::default()), &no_rho),
            Err(BudgetError::NeedsZcdp { .. })
        ));
        let with_rho = PrivacyCost {
            rho: Some(amount("0.3")),
            ..no_rho
        };
        let spent = admit(&budget(limit, Spent::default()), &with_rho).expect("fits");
        assert!(admit(&budget(limit, spent), &with_rho).is_err());
    }

    proptest! {
        #[test]
        fn accepted_total_never_exceeds_any_limit(
            limit_units in 1u64..1_000_000,
            delta_units in 0u64..1_000,
            charges in proptest::collection::vec((0u64..200_000, 0u64..300), 1..60),
        ) {
            let scale = 10u128.pow(24);
            let limit = Limit::EpsilonDelta {
                epsilon: Amount::from_units(u128::from(limit_units) * scale),
                delta: Amount::from_units(u128::from(delta_units) * scale),
            };
            let mut spent = Spent::default();
            let mut accepted_eps = 0u128;
            for (e, d) in charges {
                let cost = PrivacyCost {
                    epsilon: Amount::from_units(u128::from(e) * scale),
                    delta: Amount::from_units(u128::from(d) * scale),
                    rho: None,
                };
                match admit(&budget(limit, spent), &cost) {
                    Ok(after) => { spent = after; accepted_eps += u128::from(e) * scale; }
                    Err(BudgetError::BudgetExhausted { .. }) => {
                        // Rejected only if it really would not fit.
                        prop_assert!(u128::from(e) * scale + spent.epsilon.units() > u128::from(limit_units) * scale
                            || u128::from(d) * scale + spent.delta.units() > u128::from(delta_units) * scale);
                    }
                    Err(other) => prop_assert!(false, "unexpected {other}"),
                }
                prop_assert!(spent.epsilon.units() <= u128::from(limit_units) * scale);
                prop_assert!(spent.delta.units() <= u128::from(delta_units) * scale);
            }
            prop_assert_eq!(spent.epsilon.units(), accepted_eps);
        }
    }
}
