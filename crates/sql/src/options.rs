//! Differential-privacy options of a query and their precedence:
//! SQL `OPTIONS (...)` > `SET privagg.x` session values and API/command-line
//! settings > catalog defaults > built-in defaults.

use privagg_noise::{Delta, Epsilon};
use serde::Serialize;

use crate::error::{Result, SqlError};

/// How group keys found in private data are released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupSelection {
    /// Noisy distinct-unit count above a threshold (Laplace noise).
    LaplaceThreshold,
    /// Noisy distinct-unit count above a threshold (Gaussian noise).
    GaussianThreshold,
    /// The near-optimal truncated-geometric rule (the default).
    TruncatedGeometric,
    /// Keys are public: every declared value is output, no selection.
    PublicGroups,
    /// Threshold on the query's own noisy `COUNT(DISTINCT unit)`: no ε of
    /// its own, only δ (the default when the query has that count).
    CountThreshold,
}

impl GroupSelection {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "LAPLACE_THRESHOLD" => Some(Self::LaplaceThreshold),
            "GAUSSIAN_THRESHOLD" => Some(Self::GaussianThreshold),
            "TRUNCATED_GEOMETRIC" => Some(Self::TruncatedGeometric),
            "PUBLIC_GROUPS" => Some(Self::PublicGroups),
            "COUNT_THRESHOLD" => Some(Self::CountThreshold),
            _ => None,
        }
    }
}

/// The noise of a query's aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Integer Laplace, ε-DP (pure DP composition).
    Laplace,
    /// Discrete Gaussian, ρ-zCDP composed over the query's components.
    Gaussian,
    /// Gaussian when it is more accurate for every noisy component of the
    /// query (many aggregates), else Laplace (the default; `docs/sql.md`).
    Auto,
}

impl Mechanism {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "laplace" => Some(Self::Laplace),
            "gaussian" => Some(Self::Gaussian),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }
}

/// Option values as given at one level of precedence (unset = `None`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptionValues {
    /// Total ε of the query (exact, as written).
    pub epsilon: Option<Epsilon>,
    /// Total δ of the query (exact, as written).
    pub delta: Option<Delta>,
    /// L0 bound.
    pub max_groups_contributed: Option<u32>,
    /// L∞ bound.
    pub max_rows_contributed: Option<u32>,
    /// Must name the table's privacy unit if given.
    pub privacy_unit_column: Option<String>,
    /// Partition-selection rule.
    pub group_selection_strategy: Option<GroupSelection>,
    /// Groups need at least this many units to be released.
    pub min_privacy_units_per_group: Option<u64>,
    /// The noise of the aggregates.
    pub mechanism: Option<Mechanism>,
}

/// Every option name accepted, for messages.
pub const OPTION_NAMES: &str = "epsilon, delta, max_groups_contributed, max_rows_contributed, privacy_unit_column, group_selection_strategy, min_privacy_units_per_group, mechanism";

impl OptionValues {
    /// An option's value as text (`SHOW privagg.<name>`); `None` when it is
    /// not set at this level (or is no option).
    pub fn get(&self, name: &str) -> Option<String> {
        match name {
            "epsilon" => self.epsilon.as_ref().map(ToString::to_string),
            "delta" => self.delta.as_ref().map(ToString::to_string),
            "max_groups_contributed" => self.max_groups_contributed.map(|v| v.to_string()),
            "max_rows_contributed" => self.max_rows_contributed.map(|v| v.to_string()),
            "privacy_unit_column" => self.privacy_unit_column.clone(),
            "group_selection_strategy" => self
                .group_selection_strategy
                .as_ref()
                .map(|g| format!("{g:?}")),
            "min_privacy_units_per_group" => {
                self.min_privacy_units_per_group.map(|v| v.to_string())
            }
            "mechanism" => self
                .mechanism
                .as_ref()
                .map(|m| format!("{m:?}").to_ascii_lowercase()),
            _ => None,
        }
    }

    /// Sets one option from text (SQL `OPTIONS` or `SET privagg.<name>`).
    ///
    /// # Errors
    /// [`SqlError::Rejected`] naming the option for unknown names and values
    /// out of range.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |what: &str| SqlError::Rejected(format!("option {name} = {value}: {what}"));
        match name {
            // Read exactly as written ("0.1" is 1/10, not the nearest f64).
            "epsilon" => {
                let v: f64 = value.parse().map_err(|_| bad("expected a number"))?;
                Epsilon::new(v).map_err(|e| bad(&e.to_string()))?;
                self.epsilon = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|e: privagg_noise::NoiseError| bad(&e.to_string()))?,
                );
            }
            "delta" => {
                let v: f64 = value.parse().map_err(|_| bad("expected a number"))?;
                Delta::new(v).map_err(|e| bad(&e.to_string()))?;
                self.delta = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|e: privagg_noise::NoiseError| bad(&e.to_string()))?,
                );
            }
            "max_groups_contributed" | "max_rows_contributed" => {
                let v: u32 = value
                    .parse()
                    .ok()
                    .filter(|v| (1..=100_000).contains(v))
                    .ok_or_else(|| bad("expected a whole number from 1 to 100000"))?;
                if name == "max_groups_contributed" {
                    self.max_groups_contributed = Some(v);
                } else {
                    self.max_rows_contributed = Some(v);
                }
            }
            "privacy_unit_column" => self.privacy_unit_column = Some(value.to_string()),
            "group_selection_strategy" => {
                self.group_selection_strategy = Some(GroupSelection::parse(value).ok_or_else(|| {
                    bad("expected LAPLACE_THRESHOLD, GAUSSIAN_THRESHOLD, TRUNCATED_GEOMETRIC, COUNT_THRESHOLD or PUBLIC_GROUPS")
                })?);
            }
            "min_privacy_units_per_group" => {
                let v: u64 = value
                    .parse()
                    .ok()
                    .filter(|v| (1..=1_000_000_000).contains(v))
                    .ok_or_else(|| bad("expected a whole number from 1 to 1e9"))?;
                self.min_privacy_units_per_group = Some(v);
            }
            "mechanism" => {
                self.mechanism = Some(
                    Mechanism::parse(value)
                        .ok_or_else(|| bad("expected laplace, gaussian or auto"))?,
                );
            }
            other => {
                return Err(SqlError::Rejected(format!(
                    "unknown option `{other}`; the options are: {OPTION_NAMES}"
                )));
            }
        }
        Ok(())
    }

    /// `self` where set, else `fallback`.
    pub fn or(&self, fallback: &OptionValues) -> OptionValues {
        OptionValues {
            epsilon: self.epsilon.clone().or_else(|| fallback.epsilon.clone()),
            delta: self.delta.clone().or_else(|| fallback.delta.clone()),
            max_groups_contributed: self
                .max_groups_contributed
                .or(fallback.max_groups_contributed),
            max_rows_contributed: self.max_rows_contributed.or(fallback.max_rows_contributed),
            privacy_unit_column: self
                .privacy_unit_column
                .clone()
                .or_else(|| fallback.privacy_unit_column.clone()),
            group_selection_strategy: self
                .group_selection_strategy
                .or(fallback.group_selection_strategy),
            min_privacy_units_per_group: self
                .min_privacy_units_per_group
                .or(fallback.min_privacy_units_per_group),
            mechanism: self.mechanism.or(fallback.mechanism),
        }
    }
}

/// Built-in defaults: ε = 1, δ = 10⁻⁶ (used only for selecting private group keys).
pub const DEFAULT_EPSILON: f64 = 1.0;
/// Built-in default δ.
pub const DEFAULT_DELTA: f64 = 1e-6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_validate_and_merge() {
        let mut sql = OptionValues::default();
        sql.set("epsilon", "0.5").expect("valid");
        sql.set("group_selection_strategy", "public_groups")
            .expect("valid");
        let mut session = OptionValues::default();
        session.set("epsilon", "2").expect("valid");
        session.set("delta", "1e-7").expect("valid");
        let merged = sql.or(&session);
        assert_eq!(
            merged.epsilon.map(|e| e.to_string()).as_deref(),
            Some("0.5")
        );
        assert_eq!(
            merged.delta.map(|d| d.to_string()).as_deref(),
            Some("0.0000001")
        );
        assert_eq!(
            merged.group_selection_strategy,
            Some(GroupSelection::PublicGroups)
        );
    }

    #[test]
    fn bad_options_name_themselves() {
        let mut o = OptionValues::default();
        let cases = [
            ("epsilon", "0", "option epsilon = 0: invalid epsilon"),
            ("epsilon", "abc", "option epsilon = abc: expected a number"),
            ("delta", "1", "option delta = 1: invalid delta"),
            (
                "max_groups_contributed",
                "0",
                "expected a whole number from 1 to 100000",
            ),
            (
                "group_selection_strategy",
                "MAGIC",
                "expected LAPLACE_THRESHOLD",
            ),
            ("colour", "red", "unknown option `colour`"),
        ];
        for (name, value, want) in cases {
            let err = o.set(name, value).expect_err("must fail").to_string();
            assert!(err.contains(want), "{name}={value}: {err}");
        }
    }
}
