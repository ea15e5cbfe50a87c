//! Everything decided before the budget is charged: syntax checks, planning,
//! analysis, options, the ε split, mechanisms and the bounded plan. Nothing
//! here reads private data (DataFusion plans from schemas only).

use datafusion::common::JoinType;
use datafusion::common::tree_node::TreeNode as _;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::eliminate_cross_join::EliminateCrossJoin;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::prelude::SessionContext;
use privagg_noise::{Delta, Epsilon, PartitionSelector, PrivacyLoss};

use crate::aggregate::{AggregatePlan, Contribution};
use crate::analyze::{Analysis, analyze};
use crate::bounded::{bounded_plan, own_plans};
use crate::calibrate::{Calibration, Needs, calibrate, count_threshold, selector};
use crate::catalog::Catalog;
use crate::error::{Result, SqlError, rejected};
use crate::metadata::BudgetShare;
use crate::options::{DEFAULT_DELTA, DEFAULT_EPSILON, GroupSelection, Mechanism, OptionValues};
use crate::register::Views;

/// How the groups of a release are chosen.
pub(crate) enum Selection {
    /// Every group: no keys, or public keys.
    All,
    /// A selection step of its own on the distinct-unit count.
    Selector(Box<PartitionSelector>),
    /// A threshold on the noisy `COUNT(DISTINCT unit)` of aggregate
    /// `aggregate`, which is released as drawn.
    Count {
        /// The aggregate whose first component is the unit count.
        aggregate: usize,
        /// Keep a group iff its noisy count (minus the `min_privacy_units`
        /// shift) is at least this.
        threshold: i128,
    },
}

impl Selection {
    /// Units at which a group is kept with even odds (private keys only).
    pub fn units_for_even_odds(&self) -> Option<u64> {
        match self {
            Selection::All => None,
            Selection::Selector(s) => Some(s.units_for_even_odds()),
            Selection::Count { threshold, .. } => Some(u64::try_from(*threshold).unwrap_or(0)),
        }
    }
}

/// A query ready to be charged and run.
pub(crate) struct Prepared {
    pub analysis: Analysis,
    pub aggregates: Vec<AggregatePlan>,
    pub selection: Selection,
    pub selection_epsilon: Option<Epsilon>,
    pub strategy: GroupSelection,
    /// The noise of the aggregates (Laplace or Gaussian).
    pub mechanism: Mechanism,
    /// The aggregates under the other mechanism, for explain.
    pub alternative: Option<(Mechanism, Vec<AggregatePlan>)>,
    pub min_units: Option<u64>,
    pub contribution: Contribution,
    pub loss: PrivacyLoss,
    pub bounded: LogicalPlan,
    /// The output is cut to no rows above the aggregation (`LIMIT 0`): the
    /// query costs nothing and reads no data.
    pub releases_nothing: bool,
    /// Plans of aggregates with their own (percentiles' leaf histograms), by aggregate index.
    pub percentiles: Vec<(usize, LogicalPlan)>,
}

impl Prepared {
    /// Each aggregate's declared value range (public), for the too-noisy rule.
    pub fn value_ranges(&self) -> Vec<Option<f64>> {
        self.aggregates
            .iter()
            .map(|a| a.call.aggregate.value_range(&a.call))
            .collect()
    }

    /// The ε split, for metadata and explain.
    pub fn split(&self) -> Vec<BudgetShare> {
        let mut parts: Vec<BudgetShare> = self
            .aggregates
            .iter()
            .map(|a| BudgetShare {
                part: a.call.label.clone(),
                epsilon: a.epsilon.to_string(),
                rho: a.share.rho().map(|r| r.to_string()),
            })
            .collect();
        if let Some(e) = &self.selection_epsilon {
            parts.push(BudgetShare {
                part: "partition selection".into(),
                epsilon: e.to_string(),
                rho: None,
            });
        }
        parts
    }
}

fn planning_error(e: datafusion::error::DataFusionError) -> SqlError {
    let message = crate::syntax::clean(&e.to_string());
    if message.contains("must appear in the GROUP BY clause")
        || message.contains("non-aggregate values")
    {
        let column = message
            .split("column \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("a column");
        return rejected(format!(
            "column {column} is in the output without aggregation: only GROUP BY keys and aggregates can be released (add it to GROUP BY or aggregate it, e.g. AVG)"
        ));
    }
    if let Some(signature) = message
        .split("No function matches the given name and argument types ")
        .nth(1)
        .and_then(|r| r.split('.').next())
    {
        return SqlError::InvalidSql(format!(
            "no function matches {signature}: the argument types do not fit (see the column types in the catalog, or add a CAST)"
        ));
    }
    if let Some(rest) = message.strip_prefix("table '")
        && let Some(name) = rest.strip_suffix("' not found")
    {
        let name = name.rsplit('.').next().unwrap_or(name);
        return SqlError::InvalidSql(format!("table '{name}' is not in the catalog"));
    }
    SqlError::InvalidSql(crate::messages::engine_message(&message))
}

/// `error` with a hint when the query names a column in single quotes (a
/// string literal): the most common quoting mistake.
async fn with_quoting_hint(
    error: SqlError,
    session: &SessionContext,
    catalog: &Catalog,
    sql: &str,
) -> SqlError {
    let names = catalog
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .chain(catalog.public_tables.iter().map(|t| t.name.as_str()));
    let mut columns = Vec::new();
    for name in names {
        if let Ok(provider) = session.table_provider(name).await {
            columns.extend(provider.schema().fields().iter().map(|f| f.name().clone()));
        }
    }
    let Some(hint) = crate::messages::quoting_hint(sql, &columns) else {
        return error;
    };
    match error {
        SqlError::InvalidSql(m) => SqlError::InvalidSql(format!("{m}; {hint}")),
        SqlError::Rejected(m) => SqlError::Rejected(format!("{m}; {hint}")),
        other => other,
    }
}

/// Plans and checks a query, and calibrates everything, charging nothing.
pub(crate) async fn prepare(
    session: &SessionContext,
    catalog: &Catalog,
    views: &Views,
    sql: &str,
    options: &OptionValues,
    salt: i64,
    explain: bool,
) -> Result<Prepared> {
    let statement = crate::syntax::parse_checked(sql)?;
    let plan = match session.state().statement_to_plan(statement).await {
        Ok(plan) => plan,
        Err(e) => return Err(with_quoting_hint(planning_error(e), session, catalog, sql).await),
    };
    // `FROM a, b WHERE a.unit = b.unit` is a cross join under a filter:
    // DataFusion's own rule turns the equalities into the join's condition,
    // so the analysis sees the inner join it means (and checks it like any).
    // Only comma joins are rewritten: an explicit JOIN stays as written.
    let comma_join = plan
        .exists(|node| {
            Ok(matches!(node, LogicalPlan::Join(j)
                if j.join_type == JoinType::Inner && j.on.is_empty() && j.filter.is_none()))
        })
        .map_err(planning_error)?;
    let plan = if comma_join {
        EliminateCrossJoin::new()
            .rewrite(plan, &OptimizerContext::new())
            .map_err(planning_error)?
            .data
    } else {
        plan
    };
    let mut analysis = analyze(plan, catalog, views)?;
    let table = analysis
        .private_tables
        .first()
        .and_then(|t| catalog.table(t))
        .ok_or_else(|| rejected("no private table"))?;
    if let Some(unit) = &options.privacy_unit_column
        && !analysis
            .private_tables
            .iter()
            .filter_map(|t| catalog.table(t))
            .all(|t| t.privacy_unit.eq_ignore_ascii_case(unit))
    {
        return Err(rejected(format!(
            "privacy_unit_column = {unit}: the privacy unit of table '{}' is '{}' (set in the catalog)",
            table.name, table.privacy_unit
        )));
    }
    let has_keys = !analysis.keys.is_empty();
    let contribution = Contribution {
        // Without GROUP BY there is one group: a unit contributes to at most
        // one, whatever the catalog or OPTIONS allow per grouped query (the
        // noise then scales with 1, not with max_groups_contributed).
        max_groups: if has_keys {
            options
                .max_groups_contributed
                .unwrap_or(table.max_groups_contributed)
        } else {
            1
        },
        max_rows: options
            .max_rows_contributed
            .unwrap_or(table.max_rows_per_group),
    };
    // The first COUNT(DISTINCT unit): selection can threshold its noisy value.
    let unit_count = analysis
        .aggregates
        .iter()
        .position(|a| a.aggregate.counts_units());
    let strategy = match options.group_selection_strategy {
        Some(GroupSelection::PublicGroups) if has_keys && analysis.public_values.is_none() => {
            return Err(rejected(
                "group_selection_strategy = PUBLIC_GROUPS needs public_values declared in the catalog for every GROUP BY column",
            ));
        }
        Some(GroupSelection::CountThreshold) if has_keys && unit_count.is_none() => {
            return Err(rejected(
                "group_selection_strategy = COUNT_THRESHOLD needs COUNT(DISTINCT <privacy unit>) in the query",
            ));
        }
        Some(s) => s,
        None if analysis.public_values.is_some() => GroupSelection::PublicGroups,
        None if unit_count.is_some() => GroupSelection::CountThreshold,
        None => GroupSelection::TruncatedGeometric,
    };
    if strategy != GroupSelection::PublicGroups {
        analysis.public_values = None;
    }
    let with_selection = has_keys && strategy != GroupSelection::PublicGroups;
    let on_count = with_selection && strategy == GroupSelection::CountThreshold;
    let epsilon = match &options.epsilon {
        Some(e) => e.clone(),
        None => Epsilon::new(catalog.defaults.epsilon.unwrap_or(DEFAULT_EPSILON))?,
    };
    let delta = match &options.delta {
        Some(d) => d.clone(),
        None => Delta::new(catalog.defaults.delta.unwrap_or(DEFAULT_DELTA))?,
    };
    let calibration = calibrate(
        &analysis.aggregates,
        &epsilon,
        &delta,
        contribution,
        Needs {
            selection_epsilon: with_selection && !on_count,
            selection_delta: with_selection,
            alternative: explain,
        },
        options.mechanism.unwrap_or(Mechanism::Auto),
    )?;
    let Calibration {
        aggregates,
        mechanism,
        mut loss,
        selection_epsilon,
        selection_delta,
        alternative,
    } = calibration;
    let selection = match (&selection_epsilon, unit_count) {
        (Some(e), _) => Selection::Selector(Box::new(selector(
            strategy,
            e,
            &selection_delta,
            contribution.max_groups,
        )?)),
        (None, Some(aggregate)) if on_count => {
            let threshold =
                count_threshold(&aggregates[aggregate], &selection_delta, contribution)?;
            // δ for the groups only one of two neighbours has; no ε.
            loss = loss.compose(&PrivacyLoss::approximate(
                num_rational::BigRational::from_integer(0.into()),
                selection_delta.as_ratio().clone(),
            ));
            Selection::Count {
                aggregate,
                threshold,
            }
        }
        _ => Selection::All,
    };
    if let Selection::Selector(s) = &selection {
        loss = loss.compose(s.privacy_loss());
    }
    if !loss.fits(&epsilon, &delta) {
        return Err(rejected(format!(
            "internal: the calibrated loss exceeds epsilon {epsilon}, delta {delta}"
        )));
    }
    // A query whose output is cut to no rows above the aggregation (LIMIT 0)
    // releases nothing, whatever the data: it costs nothing and reads nothing.
    let releases_nothing = releases_nothing(&analysis.plan);
    if releases_nothing {
        loss = PrivacyLoss::pure(num_rational::BigRational::from_integer(0.into()));
    }
    let bounded = bounded_plan(&analysis, &aggregates, contribution, salt)?;
    let percentiles = own_plans(&analysis, &aggregates, contribution, salt)?;
    Ok(Prepared {
        analysis,
        aggregates,
        selection,
        selection_epsilon,
        strategy,
        mechanism,
        alternative,
        min_units: options.min_privacy_units_per_group,
        contribution,
        loss,
        bounded,
        percentiles,
        releases_nothing,
    })
}

/// Whether a `LIMIT 0` above the aggregation cuts the output to no rows.
fn releases_nothing(plan: &LogicalPlan) -> bool {
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Limit(limit)
                if matches!(
                    limit.get_fetch_type(),
                    Ok(datafusion::logical_expr::FetchType::Literal(Some(0)))
                ) =>
            {
                return true;
            }
            LogicalPlan::Aggregate(_) => return false,
            other => match other.inputs().first() {
                Some(input) => node = input,
                None => return false,
            },
        }
    }
}
