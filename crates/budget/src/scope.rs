//! Budget scopes, their limits, what a release costs and what a scope has spent.

use std::fmt;

use privagg_noise::PrivacyLoss;
use serde::Serialize;

use crate::amount::{Amount, Rounding};
use crate::error::BudgetError;

/// Who or what a budget belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Scope {
    /// One analyst's total budget.
    Analyst(String),
    /// One table's cap across all analysts.
    Table(String),
}

impl Scope {
    /// A stable key for storage (`analyst:alice`, `table:customers`).
    pub fn key(&self) -> String {
        match self {
            Scope::Analyst(n) => format!("analyst:{n}"),
            Scope::Table(n) => format!("table:{n}"),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Analyst(n) => write!(f, "analyst '{n}'"),
            Scope::Table(n) => write!(f, "table '{n}'"),
        }
    }
}

/// The total a scope may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// Basic sequential composition: Σε ≤ ε and Σδ ≤ δ (a valid filter under
    /// adaptive choice, Rogers et al. 2016).
    EpsilonDelta {
        /// Total ε.
        epsilon: Amount,
        /// Total δ.
        delta: Amount,
    },
    /// ρ-zCDP filter: Σρ ≤ ρ; shown as (ε, δ) at `delta` by a conservative conversion.
    Zcdp {
        /// Total ρ.
        rho: Amount,
        /// The δ at which the total is stated as (ε, δ).
        delta: Amount,
    },
}

impl Limit {
    /// An (ε, δ) limit from the `f64`s of a config file (read as typed, rounded down).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for NaN, ±∞, negatives, or δ ≥ 1.
    pub fn epsilon_delta(epsilon: f64, delta: f64) -> Result<Self, BudgetError> {
        let delta = Amount::from_f64(delta, Rounding::Down)?;
        check_delta(delta)?;
        Ok(Limit::EpsilonDelta {
            epsilon: Amount::from_f64(epsilon, Rounding::Down)?,
            delta,
        })
    }
}

impl Limit {
    /// A ρ-zCDP limit from the `f64`s of a config file (rounded down); `delta`
    /// is where the total is stated as (ε, δ).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for NaN, ±∞, negatives, or δ outside (0, 1).
    pub fn zcdp(rho: f64, delta: f64) -> Result<Self, BudgetError> {
        let delta = Amount::from_f64(delta, Rounding::Down)?;
        check_delta(delta)?;
        if delta == Amount::default() {
            return Err(BudgetError::InvalidAmount {
                value: "0".into(),
                reason: "a rho budget needs delta > 0, where its total is stated as (epsilon, delta)",
            });
        }
        Ok(Limit::Zcdp {
            rho: Amount::from_f64(rho, Rounding::Down)?,
            delta,
        })
    }
}

fn check_delta(delta: Amount) -> Result<(), BudgetError> {
    if delta.to_ratio() >= num_rational::BigRational::from_integer(1.into()) {
        return Err(BudgetError::InvalidAmount {
            value: delta.to_string(),
            reason: "delta must be below 1",
        });
    }
    Ok(())
}

/// What one release costs, rounded up from the mechanisms' exact losses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrivacyCost {
    /// ε.
    pub epsilon: Amount,
    /// δ.
    pub delta: Amount,
    /// ρ, when every part of the release is ρ-zCDP.
    pub rho: Option<Amount>,
}

impl PrivacyCost {
    /// The cost of a mechanism's privacy loss (every amount rounded up).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for amounts out of range.
    pub fn from_loss(loss: &PrivacyLoss) -> Result<Self, BudgetError> {
        let delta = Amount::from_ratio(loss.delta(), Rounding::Up)?;
        check_delta(delta)?;
        Ok(Self {
            epsilon: Amount::from_ratio(loss.epsilon(), Rounding::Up)?,
            delta,
            rho: loss
                .rho()
                .map(|r| Amount::from_ratio(r, Rounding::Up))
                .transpose()?,
        })
    }

    /// An (ε, δ) cost from decimal text, exactly (`"0.1"`, `"1e-6"`).
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] for malformed text, negatives or δ ≥ 1.
    pub fn parse(epsilon: &str, delta: &str) -> Result<Self, BudgetError> {
        let delta = Amount::parse(delta, Rounding::Up)?;
        check_delta(delta)?;
        Ok(Self {
            epsilon: Amount::parse(epsilon, Rounding::Up)?,
            delta,
            rho: None,
        })
    }

    /// Sequential composition of two costs.
    ///
    /// # Errors
    /// [`BudgetError::InvalidAmount`] on overflow.
    pub fn plus(&self, other: &PrivacyCost) -> Result<Self, BudgetError> {
        let overflow = || BudgetError::InvalidAmount {
            value: "sum of costs".into(),
            reason: "overflow",
        };
        Ok(Self {
            epsilon: self
                .epsilon
                .checked_add(other.epsilon)
                .ok_or_else(overflow)?,
            delta: self.delta.checked_add(other.delta).ok_or_else(overflow)?,
            rho: match (self.rho, other.rho) {
                (Some(a), Some(b)) => Some(a.checked_add(b).ok_or_else(overflow)?),
                _ => None,
            },
        })
    }
}

impl fmt::Display for PrivacyCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epsilon {}, delta {}", self.epsilon, self.delta)?;
        if let Some(rho) = self.rho {
            write!(f, ", rho {rho}")?;
        }
        Ok(())
    }
}

/// What a scope has spent so far (ρ sums the charges that carried one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spent {
    /// Σε.
    pub epsilon: Amount,
    /// Σδ.
    pub delta: Amount,
    /// Σρ.
    pub rho: Amount,
}

/// What remains of a scope's limit, amount by amount (exact decimals; they
/// serialise as strings, like every amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Remaining {
    /// Under an (ε, δ) limit.
    EpsilonDelta {
        /// ε left.
        epsilon: Amount,
        /// δ left.
        delta: Amount,
    },
    /// Under a ρ limit.
    Zcdp {
        /// ρ left.
        rho: Amount,
    },
}

/// A scope's limit, spend, and what remains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeBudget {
    /// The scope.
    pub scope: Scope,
    /// Its limit.
    pub limit: Limit,
    /// Its spend.
    pub spent: Spent,
}

impl ScopeBudget {
    /// Remaining budget as text (`epsilon 0.3, delta 0.00001` or `rho 0.2`).
    pub fn remaining(&self) -> String {
        match self.remaining_amounts() {
            Remaining::EpsilonDelta { epsilon, delta } => {
                format!("epsilon {epsilon}, delta {delta}")
            }
            Remaining::Zcdp { rho } => format!("rho {rho}"),
        }
    }

    /// Remaining budget, amount by amount.
    pub fn remaining_amounts(&self) -> Remaining {
        match self.limit {
            Limit::EpsilonDelta { epsilon, delta } => Remaining::EpsilonDelta {
                epsilon: epsilon.saturating_sub(self.spent.epsilon),
                delta: delta.saturating_sub(self.spent.delta),
            },
            Limit::Zcdp { rho, .. } => Remaining::Zcdp {
                rho: rho.saturating_sub(self.spent.rho),
            },
        }
    }

    /// The limit as text; a ρ limit also as the (ε, δ) it implies.
    pub fn limit_text(&self) -> String {
        match self.limit {
            Limit::EpsilonDelta { epsilon, delta } => format!("epsilon {epsilon}, delta {delta}"),
            Limit::Zcdp { rho, delta } => match implied_epsilon(rho, delta) {
                Some(e) => format!("rho {rho} (epsilon {}, delta {delta})", approx(e)),
                None => format!("rho {rho}"),
            },
        }
    }

    /// The spend as text: under a ρ limit, ρ and the (ε, δ) it implies by
    /// zCDP composition, beside the ε that basic composition of the same
    /// charges would have spent.
    pub fn spent_text(&self) -> String {
        match self.limit {
            Limit::EpsilonDelta { .. } => {
                format!("epsilon {}, delta {}", self.spent.epsilon, self.spent.delta)
            }
            Limit::Zcdp { delta, .. } => match implied_epsilon(self.spent.rho, delta) {
                Some(e) if self.spent.rho > Amount::default() => format!(
                    "rho {} (epsilon {}, delta {delta}; basic composition: epsilon {})",
                    approx(self.spent.rho),
                    approx(e),
                    approx(self.spent.epsilon)
                ),
                _ => format!("rho {}", self.spent.rho),
            },
        }
    }

    /// The ε that the spent ρ implies at the limit's δ (ρ limits only).
    pub fn implied_epsilon(&self) -> Option<Amount> {
        match self.limit {
            Limit::Zcdp { delta, .. } => implied_epsilon(self.spent.rho, delta),
            Limit::EpsilonDelta { .. } => None,
        }
    }
}

/// An amount for reading: at most 4 decimals (rounded up, so never
/// understated), trailing zeros dropped; the exact value is in `--json`.
fn approx(a: Amount) -> String {
    let up = (a.to_f64() * 1e4).ceil() / 1e4;
    let text = format!("{up:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// ε such that ρ-zCDP implies (ε, δ)-DP (Bun & Steinke 2016, Prop. 1.3), rounded up.
fn implied_epsilon(rho: Amount, delta: Amount) -> Option<Amount> {
    let delta = privagg_noise::Delta::from_ratio(delta.to_ratio()).ok()?;
    let eps = privagg_noise::zcdp_to_epsilon(&rho.to_ratio(), &delta).ok()?;
    Amount::from_ratio(&eps, Rounding::Up).ok()
}
