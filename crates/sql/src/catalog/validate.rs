//! Checks of a loaded catalog: budgets, contribution bounds, column types
//! and bounds, public values, duplicate names. Every message names the
//! table and key at fault.

use privagg_budget::Limit;

use super::Catalog;
use crate::error::Result;

impl Catalog {
    pub(super) fn validate(&self) -> Result<()> {
        match (self.engine.kind, &self.engine.scheduler) {
            (super::EngineKind::Ballista, None) => {
                return Err(self.error(
                    None,
                    Some("engine.scheduler"),
                    "a ballista engine needs its scheduler: scheduler = \"df://host:50050\"",
                ));
            }
            (super::EngineKind::Local, Some(_)) => {
                return Err(self.error(
                    None,
                    Some("engine.scheduler"),
                    "a scheduler is for kind = \"ballista\" (the local engine has none)",
                ));
            }
            _ => {}
        }
        if self.engine.memory_limit_mb == Some(0) {
            return Err(self.error(
                None,
                Some("engine.memory_limit_mb"),
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if self.engine.memory_limit_mb.is_some() && self.engine.kind == super::EngineKind::Ballista
        {
            return Err(self.error(
                None,
                Some("engine.memory_limit_mb"),
                "is for the local engine (a Ballista executor sets its own memory pool)",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for a in &self.analysts {
            let key = format!("analysts.{}", a.name);
            if budget_limit(a.epsilon, a.rho, Some(a.delta))
                .map_err(|m| self.error(None, Some(&key), m))?
                .is_none()
            {
                return Err(self.error(
                    None,
                    Some(&key),
                    "give the analyst a budget: epsilon = ... (and delta), or rho = ... and delta",
                ));
            }
        }
        for t in &self.tables {
            if !names.insert(t.name.to_lowercase()) {
                return Err(self.error(Some(&t.name), Some("name"), "the table is declared twice"));
            }
            if t.max_groups_contributed == 0 {
                return Err(self.error(
                    Some(&t.name),
                    Some("max_groups_contributed"),
                    "must be at least 1",
                ));
            }
            if t.max_rows_per_group == 0 {
                return Err(self.error(
                    Some(&t.name),
                    Some("max_rows_per_group"),
                    "must be at least 1",
                ));
            }
            if budget_limit(t.epsilon, t.rho, t.delta)
                .map_err(|m| self.error(Some(&t.name), Some("epsilon"), m))?
                .is_none()
                && t.delta.is_some()
            {
                return Err(self.error(
                    Some(&t.name),
                    Some("delta"),
                    "a table delta cap needs an epsilon (or rho) cap too",
                ));
            }
            for (col, c) in &t.columns {
                let key = format!("columns.{col}");
                if let Err(message) = c.read_type() {
                    return Err(self.error(Some(&t.name), Some(&format!("{key}.type")), message));
                }
                match (c.lower, c.upper) {
                    (Some(l), Some(u)) if !(l.is_finite() && u.is_finite()) => {
                        return Err(self.error(
                            Some(&t.name),
                            Some(&key),
                            "bounds must be finite numbers",
                        ));
                    }
                    (Some(l), Some(u)) if l.abs().max(u.abs()) > super::MAX_BOUND => {
                        return Err(self.error(
                            Some(&t.name),
                            Some(&key),
                            "bounds must be within ±1e15",
                        ));
                    }
                    (Some(l), Some(u)) if l > u => {
                        return Err(self.error(
                            Some(&t.name),
                            Some(&key),
                            format!("lower bound {l} is greater than upper bound {u}"),
                        ));
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(self.error(
                            Some(&t.name),
                            Some(&key),
                            "declare both lower and upper",
                        ));
                    }
                    _ => {}
                }
                if let Some(values) = &c.public_values
                    && values.is_empty()
                {
                    return Err(self.error(
                        Some(&t.name),
                        Some(&format!("{key}.public_values")),
                        "the list of public values is empty",
                    ));
                }
            }
        }
        for p in &self.public_tables {
            if !names.insert(p.name.to_lowercase()) {
                return Err(self.error(
                    Some(&p.name),
                    Some("name"),
                    "a table with this name is already declared",
                ));
            }
        }
        if let Some(e) = self.defaults.epsilon {
            privagg_noise::Epsilon::new(e)
                .map_err(|err| self.error(None, Some("defaults.epsilon"), err.to_string()))?;
        }
        if let Some(d) = self.defaults.delta {
            privagg_noise::Delta::new(d)
                .map_err(|err| self.error(None, Some("defaults.delta"), err.to_string()))?;
        }
        Ok(())
    }
}

/// The limit a budget declares (`epsilon` with `delta`, or `rho` with
/// `delta > 0`), `None` when it declares none; the message says what is wrong.
fn budget_limit(
    epsilon: Option<f64>,
    rho: Option<f64>,
    delta: Option<f64>,
) -> std::result::Result<Option<Limit>, String> {
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("the budget {name} must be a positive number"))
        }
    };
    let delta = delta.unwrap_or(0.0);
    match (epsilon, rho) {
        (Some(_), Some(_)) => Err("give epsilon or rho, not both".into()),
        (Some(e), None) => {
            let limit = Limit::epsilon_delta(e, delta).map_err(|e| e.to_string())?;
            positive("epsilon", e)?;
            Ok(Some(limit))
        }
        (None, Some(r)) => {
            let limit = Limit::zcdp(r, delta).map_err(|e| e.to_string())?;
            positive("rho", r)?;
            Ok(Some(limit))
        }
        (None, None) => Ok(None),
    }
}
