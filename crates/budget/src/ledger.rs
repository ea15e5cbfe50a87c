//! The ledger contract: all-or-nothing charges across scopes, idempotent by
//! request id, refunds only for proven pre-read failures, every request in
//! the hash-chained audit log.
//!
//! The algorithm lives here once ([`charge_in`] etc.), written against the
//! small [`LedgerStore`] interface that both the SQLite and the in-memory
//! ledgers implement inside one transaction.

use serde::Serialize;

use crate::audit::{AuditEntry, AuditVerification, Decision, GENESIS_HASH, now_ms, verify_chain};
use crate::error::BudgetError;
use crate::filter::admit_all;
use crate::reconcile::{Tables, add, check_anchor, reconcile, spent_text};
use crate::scope::{Limit, PrivacyCost, Scope, ScopeBudget, Spent};

/// A request to spend budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Idempotency key: the same id twice is charged once.
    pub request_id: String,
    /// Who asks.
    pub analyst: String,
    /// What is asked (SQL text, export job), for the audit log.
    pub request_text: String,
    /// The total cost of the release.
    pub cost: PrivacyCost,
    /// Every scope the charge touches, with its limit (from the catalog).
    pub scopes: Vec<(Scope, Limit)>,
}

/// A request refused before any charge (bad SQL, unsupported construct...),
/// recorded in the audit log only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Idempotency key of the request.
    pub request_id: String,
    /// Who asked.
    pub analyst: String,
    /// What was asked.
    pub request_text: String,
    /// Why it was refused (public information only).
    pub reason: String,
}

/// Proof that a charge is durable: results may now be released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The request id charged.
    pub request_id: String,
    /// What was charged.
    pub cost: PrivacyCost,
    /// Each scope's budget after the charge.
    pub budgets: Vec<ScopeBudget>,
    /// `true` when this request id had already been charged (nothing new was charged).
    pub replayed: bool,
}

/// A committed charge, as listed in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChargeRecord {
    /// Request id.
    pub request_id: String,
    /// Analyst.
    pub analyst: String,
    /// Scopes touched.
    pub scopes: Vec<Scope>,
    /// Cost.
    pub cost: PrivacyCost,
    /// When, in ms since the epoch.
    pub time_ms: i64,
    /// Whether it was refunded.
    pub refunded: bool,
}

/// A durable privacy-budget ledger shared by processes.
pub trait Ledger: Send + Sync {
    /// Atomically checks every scope and charges all of them, or none.
    /// Returns only once the charge is durable.
    ///
    /// # Errors
    /// [`BudgetError::BudgetExhausted`] (nothing charged; the rejection is
    /// audited) or a storage error (nothing charged, nothing may be released).
    fn charge(&self, request: &ChargeRequest) -> Result<Receipt, BudgetError>;

    /// Returns a charge. Only for failures proven to happen before any
    /// private data was read; the refund is itself audited.
    ///
    /// # Errors
    /// [`BudgetError::Refund`] for unknown or already refunded charges, or storage errors.
    fn refund(&self, request_id: &str, reason: &str) -> Result<(), BudgetError>;

    /// Audits a request refused before charging.
    ///
    /// # Errors
    /// Storage errors.
    fn record_rejection(&self, rejection: &Rejection) -> Result<(), BudgetError>;

    /// What a scope has spent (zero if never charged).
    ///
    /// # Errors
    /// Storage errors.
    fn spent(&self, scope: &Scope) -> Result<Spent, BudgetError>;

    /// Every committed charge, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn charges(&self) -> Result<Vec<ChargeRecord>, BudgetError>;

    /// The audit log, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn audit_log(&self) -> Result<Vec<AuditEntry>, BudgetError>;

    /// Checks the audit hash chain and the money: every charge and every
    /// scope's spend recomputed from the chain. With `anchor` (a head an
    /// auditor recorded earlier), also that the chain still contains it.
    ///
    /// # Errors
    /// Storage errors (a broken ledger is a result, not an error).
    fn verify_ledger(
        &self,
        anchor: Option<&(u64, String)>,
    ) -> Result<AuditVerification, BudgetError>;

    /// [`Ledger::verify_ledger`] without an anchor.
    ///
    /// # Errors
    /// Storage errors.
    fn verify_audit(&self) -> Result<AuditVerification, BudgetError> {
        self.verify_ledger(None)
    }
}

/// What the accounting algorithm needs from storage, inside one transaction.
pub(crate) trait LedgerStore {
    fn find_charge(&mut self, request_id: &str) -> Result<Option<ChargeRecord>, BudgetError>;
    fn spent(&mut self, scope: &Scope) -> Result<Spent, BudgetError>;
    fn set_spent(&mut self, scope: &Scope, spent: &Spent) -> Result<(), BudgetError>;
    fn insert_charge(&mut self, record: &ChargeRecord) -> Result<(), BudgetError>;
    fn mark_refunded(&mut self, request_id: &str) -> Result<(), BudgetError>;
    fn audit_head(&mut self) -> Result<Option<(u64, String)>, BudgetError>;
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), BudgetError>;
    /// The audit entry with the highest seq, as stored.
    fn last_audit(&mut self) -> Result<Option<AuditEntry>, BudgetError>;
    /// The costs of the unrefunded charges that touch `scope`.
    fn live_costs(&mut self, scope: &Scope) -> Result<Vec<PrivacyCost>, BudgetError>;
    /// The request id of the newest charge row.
    fn last_charge(&mut self) -> Result<Option<String>, BudgetError>;
    /// Whether the audit log has an accepted entry for `request_id`.
    fn accepted_in_log(&mut self, request_id: &str) -> Result<bool, BudgetError>;
}

/// The cheap check before every charge, so that nothing is charged on top of
/// a ledger whose books do not balance: the head record is the log's last
/// entry and that entry's hash is right; the newest charge has its accepted
/// entry; each scope about to be charged has spent exactly the sum of its
/// unrefunded charges. (`audit verify` checks everything.)
fn check_before_charge(
    store: &mut dyn LedgerStore,
    scopes: &[(Scope, Limit)],
) -> Result<(), BudgetError> {
    let unverified = |detail: String| BudgetError::Unverified { detail };
    let head = store.audit_head()?;
    let last = store.last_audit()?;
    match (&head, &last) {
        (None, None) => {}
        (Some((seq, hash)), Some(e)) if *seq == e.seq && *hash == e.hash => {
            if e.compute_hash() != e.hash {
                return Err(unverified(format!(
                    "audit entry {} does not match its hash",
                    e.seq
                )));
            }
        }
        _ => {
            return Err(unverified(
                "the audit chain's head is not its last entry".into(),
            ));
        }
    }
    if let Some(request_id) = store.last_charge()?
        && !store.accepted_in_log(&request_id)?
    {
        return Err(unverified(format!(
            "the newest charge (request {request_id}) has no accepted audit entry"
        )));
    }
    for (scope, _) in scopes {
        let total = store
            .live_costs(scope)?
            .iter()
            .try_fold(Spent::default(), add)
            .ok_or_else(|| unverified(format!("{scope}: charges overflow")))?;
        let spent = store.spent(scope)?;
        if total != spent {
            return Err(unverified(format!(
                "{scope} records spent {}, its charges add up to {}",
                spent_text(&spent),
                spent_text(&total)
            )));
        }
    }
    Ok(())
}

/// The audit fields of one entry before chaining.
pub(crate) struct AuditFields<'a> {
    pub scopes: Vec<Scope>,
    pub analyst: &'a str,
    pub request_id: &'a str,
    pub request_text: &'a str,
    pub decision: Decision,
    pub reason: String,
    pub cost: PrivacyCost,
}

pub(crate) fn append(
    store: &mut dyn LedgerStore,
    fields: AuditFields<'_>,
) -> Result<(), BudgetError> {
    let (prev_seq, prev_hash) = store.audit_head()?.unwrap_or((0, GENESIS_HASH.to_string()));
    let mut entry = AuditEntry {
        seq: prev_seq + 1,
        time_ms: now_ms(),
        analyst: fields.analyst.to_string(),
        request_id: fields.request_id.to_string(),
        request_text: fields.request_text.to_string(),
        decision: fields.decision,
        reason: fields.reason,
        epsilon: fields.cost.epsilon,
        delta: fields.cost.delta,
        rho: fields.cost.rho,
        scopes: fields.scopes,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    store.append_audit(&entry)
}

/// The charge protocol inside one transaction. `Ok(Err(_))` is a refusal
/// whose audit entry must still be committed.
pub(crate) fn charge_in(
    store: &mut dyn LedgerStore,
    request: &ChargeRequest,
) -> Result<Result<Receipt, BudgetError>, BudgetError> {
    check_before_charge(store, &request.scopes)?;
    let budgets = request
        .scopes
        .iter()
        .map(|(scope, limit)| {
            Ok(ScopeBudget {
                scope: scope.clone(),
                limit: *limit,
                spent: store.spent(scope)?,
            })
        })
        .collect::<Result<Vec<_>, BudgetError>>()?;
    if let Some(existing) = store.find_charge(&request.request_id)? {
        return Ok(Ok(Receipt {
            request_id: existing.request_id,
            cost: existing.cost,
            budgets,
            replayed: true,
        }));
    }
    let audit = |decision, reason: String| AuditFields {
        scopes: if decision == Decision::Accepted {
            request.scopes.iter().map(|(s, _)| s.clone()).collect()
        } else {
            Vec::new()
        },
        analyst: &request.analyst,
        request_id: &request.request_id,
        request_text: &request.request_text,
        decision,
        reason,
        cost: request.cost,
    };
    let after = match admit_all(&budgets, &request.cost) {
        Ok(after) => after,
        Err(refusal) => {
            append(store, audit(Decision::Rejected, refusal.to_string()))?;
            return Ok(Err(refusal));
        }
    };
    for (scope, spent) in &after {
        store.set_spent(scope, spent)?;
    }
    store.insert_charge(&ChargeRecord {
        request_id: request.request_id.clone(),
        analyst: request.analyst.clone(),
        scopes: request.scopes.iter().map(|(s, _)| s.clone()).collect(),
        cost: request.cost,
        time_ms: now_ms(),
        refunded: false,
    })?;
    append(store, audit(Decision::Accepted, String::new()))?;
    let budgets = budgets
        .into_iter()
        .zip(after)
        .map(|(b, (_, spent))| ScopeBudget { spent, ..b })
        .collect();
    Ok(Ok(Receipt {
        request_id: request.request_id.clone(),
        cost: request.cost,
        budgets,
        replayed: false,
    }))
}

/// The refund protocol inside one transaction.
pub(crate) fn refund_in(
    store: &mut dyn LedgerStore,
    request_id: &str,
    reason: &str,
) -> Result<(), BudgetError> {
    let refusal = |reason| BudgetError::Refund {
        request_id: request_id.to_string(),
        reason,
    };
    let record = store
        .find_charge(request_id)?
        .ok_or_else(|| refusal("no such charge"))?;
    if record.refunded {
        return Err(refusal("already refunded"));
    }
    for scope in &record.scopes {
        let spent = store.spent(scope)?;
        let back = Spent {
            epsilon: spent.epsilon.saturating_sub(record.cost.epsilon),
            delta: spent.delta.saturating_sub(record.cost.delta),
            rho: spent
                .rho
                .saturating_sub(record.cost.rho.unwrap_or_default()),
        };
        store.set_spent(scope, &back)?;
    }
    store.mark_refunded(request_id)?;
    append(
        store,
        AuditFields {
            scopes: record.scopes.clone(),
            analyst: &record.analyst,
            request_id,
            request_text: "",
            decision: Decision::Refunded,
            reason: reason.to_string(),
            cost: record.cost,
        },
    )
}

/// Audits a rejection inside one transaction.
pub(crate) fn reject_in(
    store: &mut dyn LedgerStore,
    rejection: &Rejection,
) -> Result<(), BudgetError> {
    append(
        store,
        AuditFields {
            scopes: Vec::new(),
            analyst: &rejection.analyst,
            request_id: &rejection.request_id,
            request_text: &rejection.request_text,
            decision: Decision::Rejected,
            reason: rejection.reason.clone(),
            cost: PrivacyCost::default(),
        },
    )
}

/// Verifies a stored ledger: the chain, then (if it holds) the money, then
/// the auditor's anchor.
pub(crate) fn verify(
    tables: &Tables<'_>,
    head: Option<(u64, String)>,
    anchor: Option<&(u64, String)>,
) -> AuditVerification {
    let mut v = verify_chain(tables.entries, head);
    v.charges = tables.charges.len() as u64;
    v.scopes = tables.spent.len() as u64;
    if v.first_broken.is_none() {
        v.problems = reconcile(tables);
    }
    if let Some(problem) = anchor.and_then(|a| check_anchor(tables.entries, a)) {
        v.problems.push(problem);
    }
    v
}
