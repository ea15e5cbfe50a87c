//! One request, several queries: plan them all, charge their total once
//! (all-or-nothing), then read private data and release each one. A single
//! query is a batch of one.

use datafusion::arrow::array::RecordBatch;
use privagg_budget::Receipt;
use privagg_noise::{Delta, Epsilon, SecureRng};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::aggregate::ComponentKind;
use crate::dry_run::{dry_run_failed, run_empty};
use crate::engine::Engine;
use crate::error::{Result, SqlError, rejected};
use crate::exact::read_leaves;
use crate::metadata::{AggregateLabel, Release, ReleaseMetadata, accuracy};
use crate::options::OptionValues;
use crate::post_process::{finish, upper_plan};
use crate::prepare::Prepared;
use crate::release::release_groups;
use crate::request::{PreparedRequest, QueryConfig, columns, cost, prepare_request};
use crate::request_thread::{Workers, on_request_thread};
use crate::unwind::{Charged, guarded};

/// One query of a batch (an export job).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchQuery {
    /// Name used in error messages (and by export as the output file stem).
    pub name: String,
    /// The request text (`SET` statements and one SELECT).
    pub sql: String,
    /// ε of this query, unless its SQL `OPTIONS` set one.
    pub epsilon: Option<Epsilon>,
    /// δ of this query, unless its SQL `OPTIONS` set one.
    pub delta: Option<Delta>,
}

impl BatchQuery {
    /// A one-query request.
    pub(crate) fn single(sql: &str) -> Self {
        Self {
            name: String::new(),
            sql: sql.to_string(),
            epsilon: None,
            delta: None,
        }
    }

    /// The release of a one-query request.
    pub(crate) fn only(mut releases: Vec<Release>) -> Result<Release> {
        releases
            .pop()
            .ok_or_else(|| SqlError::Execution("no release was produced".into()))
    }

    fn overrides(&self) -> Result<OptionValues> {
        Ok(OptionValues {
            epsilon: self.epsilon.clone(),
            delta: self.delta.clone(),
            ..OptionValues::default()
        })
    }

    fn blame(&self, error: SqlError) -> SqlError {
        if self.name.is_empty() {
            return error;
        }
        match error {
            SqlError::Rejected(m) => SqlError::Rejected(format!("query `{}`: {m}", self.name)),
            SqlError::InvalidSql(m) => SqlError::InvalidSql(format!("query `{}`: {m}", self.name)),
            other => other,
        }
    }
}

/// Plans every query, charges the total, then executes them in order, on a
/// request thread of its own (`crate::request_thread`). `job`: the audited
/// request text of a multi-query batch (`None`: the single query's own
/// text). Returns the releases and the request's `SET` statements, for the
/// session to apply now that the request succeeded.
pub(crate) async fn run_batch(
    engine: &Engine,
    settings: &OptionValues,
    analyst: &str,
    job: Option<&str>,
    queries: &[BatchQuery],
    config: QueryConfig,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(Vec<Release>, OptionValues)> {
    let work = run_here(engine, settings, analyst, job, queries, config, progress);
    on_request_thread(Workers::PerCore, work)
}

/// [`run_batch`] on the current thread.
async fn run_here(
    engine: &Engine,
    settings: &OptionValues,
    analyst: &str,
    job: Option<&str>,
    queries: &[BatchQuery],
    config: QueryConfig,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(Vec<Release>, OptionValues)> {
    let mut rng = SecureRng::from_os();
    let request_id = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    let audited = |original: &str| job.map_or_else(|| original.to_string(), str::to_string);
    let mut planned = Vec::with_capacity(queries.len());
    for q in queries {
        let prepared = match q.overrides() {
            Ok(o) => {
                let salt = rng.next_u64() as i64;
                let prepare = prepare_request(engine, settings, &q.sql, salt, &o, false);
                guarded("planning the query", Charged::No, prepare).await
            }
            Err(e) => Err(e),
        };
        match prepared {
            Ok(p) => planned.push(p),
            Err(e) => {
                let e = q.blame(e);
                engine.audit_rejection(&request_id, analyst, &audited(&q.sql), &e)?;
                return Err(e);
            }
        }
    }
    let text = audited(planned.first().map_or("", |r| r.original.as_str()));
    let fail = |e: SqlError| -> Result<(Vec<Release>, OptionValues)> {
        engine.audit_rejection(&request_id, analyst, &text, &e)?;
        Err(e)
    };
    if planned.is_empty() {
        return fail(rejected("the request has no query"));
    }
    if !(config.confidence > 0.0 && config.confidence < 1.0) {
        return fail(rejected(format!(
            "confidence {} must be strictly between 0 and 1",
            config.confidence
        )));
    }
    // Everything that can fail without data fails now, before the charge.
    for r in &planned {
        let dry = dry_run(engine, &r.prepared, config, &mut rng);
        let checked = guarded("checking the query on empty tables", Charged::No, dry);
        if let Err(e) = checked.await {
            return fail(e);
        }
    }
    // Charge before reading any private data; nothing leaves without a durable charge.
    let all: Vec<&Prepared> = planned.iter().map(|r| &r.prepared).collect();
    let receipt = engine.charge(&request_id, analyst, &text, &all)?;
    let mut releases = Vec::with_capacity(planned.len());
    let mut pending = OptionValues::default();
    for PreparedRequest {
        prepared,
        original,
        pending: set,
    } in &planned
    {
        let run = Execution {
            request_id: &request_id,
            analyst,
            original,
            receipt: &receipt,
            config,
        };
        let release = execute(engine, prepared, &run, &mut rng);
        releases.push(guarded("reading data and releasing", Charged::Yes, release).await?);
        progress(releases.len());
        // Later queries' SET statements win.
        pending = set.or(&pending);
    }
    Ok((releases, pending))
}

/// Where a release reads its rows from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    /// The catalog's tables (after the charge).
    Private,
    /// Empty tables of the same schemas (the dry run, before the charge).
    Empty,
}

/// The released rows of one query after post-processing (HAVING, ORDER BY,
/// LIMIT, projections), before intervals are shaped.
async fn released_batches(
    engine: &Engine,
    prepared: &Prepared,
    confidence: f64,
    rng: &mut SecureRng,
    data: Data,
) -> Result<Vec<RecordBatch>> {
    let read = async |plan: &datafusion::logical_expr::LogicalPlan| match data {
        Data::Private => engine.run(plan.clone()).await,
        Data::Empty => run_empty(&engine.session, plan, "reading the tables").await,
    };
    let rows = if prepared.releases_nothing {
        // LIMIT 0: no row leaves, so no data is read (and nothing was charged).
        Vec::new()
    } else {
        let exact = read(&prepared.bounded).await?;
        let mut leaves = vec![None; prepared.aggregates.len()];
        for (i, plan) in &prepared.percentiles {
            let batches = read(plan).await?;
            leaves[*i] = Some(read_leaves(&batches, &prepared.analysis.key_types)?);
        }
        release_groups(prepared, &exact, &leaves, confidence, rng)?
    };
    let upper = upper_plan(
        &prepared.analysis.plan,
        &rows,
        prepared.analysis.keys.len(),
        &prepared.value_ranges(),
    )?;
    let post = |e: datafusion::error::DataFusionError| match data {
        Data::Private => SqlError::Execution(format!(
            "post-processing failed: {}",
            crate::syntax::clean(&e.to_string())
        )),
        Data::Empty => dry_run_failed(
            "post-processing (HAVING, ORDER BY, LIMIT, the SELECT list)",
            &e.to_string(),
        ),
    };
    // One partition: the released rows keep their (key) order through
    // HAVING and projections, and ORDER BY ties fall the same way.
    let mut state = engine.session.state();
    state.config_mut().options_mut().execution.target_partitions = 1;
    let physical = state.create_physical_plan(&upper).await.map_err(post)?;
    let schema = physical.schema();
    let mut batches = datafusion::physical_plan::collect(physical, state.task_ctx())
        .await
        .map_err(post)?;
    if batches.is_empty() {
        // No group released: still one (empty) batch, so the columns are known.
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// The release pipeline and its metadata on empty tables: every failure
/// that does not depend on data, before the charge. Its output is dropped
/// (so is the noise it drew: it was added to nothing and leaves nowhere).
async fn dry_run(
    engine: &Engine,
    prepared: &Prepared,
    config: QueryConfig,
    rng: &mut SecureRng,
) -> Result<()> {
    let as_rejection = |e: SqlError| match e {
        SqlError::Execution(m) => dry_run_failed("the release", &m),
        other => other,
    };
    let released = released_batches(engine, prepared, config.confidence, rng, Data::Empty)
        .await
        .map_err(as_rejection)?;
    finish(released.clone(), true).map_err(as_rejection)?;
    finish(released, false).map_err(as_rejection)?;
    cost(prepared).map_err(as_rejection)?;
    columns(prepared).map_err(as_rejection)?;
    Ok(())
}

/// Reads private data for one charged query and releases it.
async fn execute(
    engine: &Engine,
    prepared: &Prepared,
    run: &Execution<'_>,
    rng: &mut SecureRng,
) -> Result<Release> {
    let released =
        released_batches(engine, prepared, run.config.confidence, rng, Data::Private).await?;
    let labels: Vec<AggregateLabel> = prepared
        .aggregates
        .iter()
        .map(|a| AggregateLabel {
            label: a.call.label.clone(),
            is_count: a.components.len() == 1 && a.components[0].kind == ComponentKind::Count,
        })
        .collect();
    let cells = accuracy(&released, &labels);
    let with_ci = finish(released.clone(), true)?;
    let batches = if run.config.intervals {
        with_ci
    } else {
        finish(released, false)?
    };
    let (epsilon, delta, rho) = cost(prepared)?;
    let metadata = ReleaseMetadata {
        request_id: run.request_id.to_string(),
        analyst: run.analyst.to_string(),
        sql: run.original.to_string(),
        epsilon,
        delta,
        rho,
        split: prepared.split(),
        columns: columns(prepared)?,
        mechanism: prepared.mechanism,
        max_groups_contributed: prepared.contribution.max_groups,
        privacy_unit: privacy_unit(engine, prepared),
        bounding: crate::request::bounding(engine, prepared),
        max_rows_contributed: prepared.contribution.max_rows,
        grouped: !prepared.analysis.keys.is_empty(),
        group_selection: prepared.strategy,
        units_for_even_odds: prepared.selection.units_for_even_odds(),
        groups_released: batches.iter().map(|b| b.num_rows()).sum(),
        confidence: run.config.confidence,
        accuracy: cells,
        remaining: run
            .receipt
            .budgets
            .iter()
            .map(|b| format!("{}: {}", b.scope, b.remaining()))
            .collect(),
    };
    Ok(Release { batches, metadata })
}

/// The distinct privacy-unit columns of the query's private tables.
fn privacy_unit(engine: &Engine, prepared: &Prepared) -> String {
    let mut units: Vec<&str> = prepared
        .analysis
        .private_tables
        .iter()
        .filter_map(|t| engine.catalog.table(t))
        .map(|t| t.privacy_unit.as_str())
        .collect();
    units.dedup();
    units.join(", ")
}

/// The charged request one query runs under.
struct Execution<'a> {
    request_id: &'a str,
    analyst: &'a str,
    original: &'a str,
    receipt: &'a Receipt,
    config: QueryConfig,
}
