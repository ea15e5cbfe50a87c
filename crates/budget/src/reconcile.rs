//! Checking the money: every charge and every scope's spend recomputed from
//! the audit chain (accepted minus refunded) and compared with what the
//! ledger's `charges` and `scopes` tables say. The chain is hash-linked, so
//! an edit to those tables that the chain does not explain is found here;
//! see `docs/privacy/composition.md` ("What the audit proves").

use std::collections::{BTreeMap, HashMap};

use crate::amount::Amount;
use crate::audit::{AuditEntry, Decision};
use crate::ledger::ChargeRecord;
use crate::scope::{PrivacyCost, Scope, Spent};

/// The ledger's tables as read in one snapshot.
pub(crate) struct Tables<'a> {
    /// The audit chain, oldest first (already checked for links and hashes).
    pub entries: &'a [AuditEntry],
    /// The charges table, with each row's id, in id order.
    pub charges: &'a [(i64, ChargeRecord)],
    /// The highest charge id ever handed out (SQLite's `sqlite_sequence`);
    /// `None` where the store has no such counter.
    pub highest_id: Option<i64>,
    /// The scopes table.
    pub spent: &'a [(Scope, Spent)],
}

/// An accepted request as the chain tells it.
struct Accepted<'a> {
    entry: &'a AuditEntry,
    refunded: bool,
}

/// Every disagreement between the chain and the tables, in plain words
/// (empty when they agree).
pub(crate) fn reconcile(t: &Tables<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let accepted = accepted_requests(t.entries, &mut problems);
    let charges = check_charges(t, &accepted, &mut problems);
    check_ids(t, &mut problems);
    let expected = spend_from_chain(&accepted, &charges);
    compare_spend(&expected, t.spent, &mut problems);
    problems
}

/// Accepted requests by id, with refunds applied; problems for refunds the
/// chain cannot explain and for a request accepted twice.
fn accepted_requests<'a>(
    entries: &'a [AuditEntry],
    problems: &mut Vec<String>,
) -> HashMap<&'a str, Accepted<'a>> {
    let mut accepted: HashMap<&str, Accepted<'_>> = HashMap::new();
    for e in entries {
        match e.decision {
            Decision::Accepted => {
                if accepted.contains_key(e.request_id.as_str()) {
                    problems.push(format!(
                        "entry {}: request {} is accepted a second time",
                        e.seq, e.request_id
                    ));
                    continue;
                }
                accepted.insert(
                    &e.request_id,
                    Accepted {
                        entry: e,
                        refunded: false,
                    },
                );
            }
            Decision::Refunded => match accepted.get_mut(e.request_id.as_str()) {
                None => problems.push(format!(
                    "entry {}: refunds request {}, which no earlier entry accepted",
                    e.seq, e.request_id
                )),
                Some(a) if a.refunded => problems.push(format!(
                    "entry {}: refunds request {} a second time",
                    e.seq, e.request_id
                )),
                Some(a) if cost_of(a.entry) != cost_of(e) => problems.push(format!(
                    "entry {}: refunds {} for request {}, which was charged {}",
                    e.seq,
                    cost_of(e),
                    e.request_id,
                    cost_of(a.entry)
                )),
                Some(a) => a.refunded = true,
            },
            Decision::Rejected => {}
        }
    }
    accepted
}

fn cost_of(e: &AuditEntry) -> PrivacyCost {
    PrivacyCost {
        epsilon: e.epsilon,
        delta: e.delta,
        rho: e.rho,
    }
}

/// Each charge row against its accepted entry (and each accepted entry
/// against its row). Returns the scopes of every accepted request: the
/// chain's, or the charge row's for entries that predate recorded scopes.
fn check_charges(
    t: &Tables<'_>,
    accepted: &HashMap<&str, Accepted<'_>>,
    problems: &mut Vec<String>,
) -> HashMap<String, Vec<Scope>> {
    let mut scopes = HashMap::new();
    let mut rows: HashMap<&str, &ChargeRecord> = HashMap::new();
    for (id, c) in t.charges {
        if rows.insert(&c.request_id, c).is_some() {
            problems.push(format!(
                "charge {id}: request {} is charged twice",
                c.request_id
            ));
        }
        let Some(a) = accepted.get(c.request_id.as_str()) else {
            problems.push(format!(
                "charge {id} (request {}, {}) has no accepted entry in the audit log: it was added, or its entry removed",
                c.request_id, c.cost
            ));
            continue;
        };
        let e = a.entry;
        if c.analyst != e.analyst {
            problems.push(format!(
                "charge {id}: analyst '{}', but entry {} says '{}'",
                c.analyst, e.seq, e.analyst
            ));
        }
        if c.cost != cost_of(e) {
            problems.push(format!(
                "charge {id}: cost {}, but entry {} charged {}",
                c.cost,
                e.seq,
                cost_of(e)
            ));
        }
        if !e.scopes.is_empty() && c.scopes != e.scopes {
            problems.push(format!(
                "charge {id}: scopes {}, but entry {} charged {}",
                keys(&c.scopes),
                e.seq,
                keys(&e.scopes)
            ));
        }
        if c.refunded != a.refunded {
            let (row, chain) = if c.refunded {
                ("refunded", "no refund")
            } else {
                ("not refunded", "a refund")
            };
            problems.push(format!(
                "charge {id}: marked {row}, but the audit log has {chain} for request {}",
                c.request_id
            ));
        }
        let chain_scopes = if e.scopes.is_empty() {
            c.scopes.clone()
        } else {
            e.scopes.clone()
        };
        scopes.insert(c.request_id.clone(), chain_scopes);
    }
    let mut missing: Vec<&Accepted<'_>> = accepted
        .iter()
        .filter(|(id, _)| !rows.contains_key(*id))
        .map(|(_, a)| a)
        .collect();
    missing.sort_by_key(|a| a.entry.seq);
    for a in missing {
        problems.push(format!(
            "entry {} accepted request {} ({}), but its charge is missing from the charges table",
            a.entry.seq,
            a.entry.request_id,
            cost_of(a.entry)
        ));
        if !a.entry.scopes.is_empty() {
            scopes.insert(a.entry.request_id.clone(), a.entry.scopes.clone());
        }
    }
    scopes
}

/// Charge ids are handed out 1, 2, 3, … in one transaction with their entry:
/// a gap, or a counter past the last row, means rows were deleted.
fn check_ids(t: &Tables<'_>, problems: &mut Vec<String>) {
    for (expected, (id, _)) in (1i64..).zip(t.charges) {
        if *id != expected {
            problems.push(format!(
                "charge {expected} is missing from the charges table (found {id} in its place): charges were deleted"
            ));
            return;
        }
    }
    let last = t.charges.last().map_or(0, |(id, _)| *id);
    if let Some(highest) = t.highest_id
        && highest != last
    {
        problems.push(format!(
            "charges up to {highest} were handed out but the table ends at {last}: charges were deleted"
        ));
    }
}

fn keys(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::key).collect::<Vec<_>>().join(", ")
}

/// Σ over accepted, unrefunded requests of their cost, per scope.
fn spend_from_chain(
    accepted: &HashMap<&str, Accepted<'_>>,
    scopes: &HashMap<String, Vec<Scope>>,
) -> BTreeMap<Scope, Option<Spent>> {
    let mut spend: BTreeMap<Scope, Option<Spent>> = BTreeMap::new();
    for (id, a) in accepted {
        if a.refunded {
            continue;
        }
        let cost = cost_of(a.entry);
        for scope in scopes.get(*id).into_iter().flatten() {
            let slot = spend.entry(scope.clone()).or_insert(Some(Spent::default()));
            *slot = slot.and_then(|s| add(s, &cost));
        }
    }
    spend
}

/// `s + cost`, `None` on overflow.
pub(crate) fn add(s: Spent, cost: &PrivacyCost) -> Option<Spent> {
    Some(Spent {
        epsilon: s.epsilon.checked_add(cost.epsilon)?,
        delta: s.delta.checked_add(cost.delta)?,
        rho: s.rho.checked_add(cost.rho.unwrap_or(Amount::ZERO))?,
    })
}

fn compare_spend(
    expected: &BTreeMap<Scope, Option<Spent>>,
    table: &[(Scope, Spent)],
    problems: &mut Vec<String>,
) {
    let recorded: BTreeMap<&Scope, &Spent> = table.iter().map(|(s, v)| (s, v)).collect();
    let mut all: Vec<&Scope> = expected.keys().chain(recorded.keys().copied()).collect();
    all.sort();
    all.dedup();
    for scope in all {
        let want = expected
            .get(scope)
            .copied()
            .unwrap_or(Some(Spent::default()));
        let have = recorded.get(scope).copied().copied().unwrap_or_default();
        match want {
            None => problems.push(format!(
                "{scope}: the audit log's charges overflow the amount type"
            )),
            Some(want) if want != have => problems.push(format!(
                "{scope}: the ledger records spent {}, the audit log adds up to {} (accepted minus refunded)",
                spent_text(&have),
                spent_text(&want)
            )),
            Some(_) => {}
        }
    }
}

/// `epsilon E, delta D[, rho R]`.
pub(crate) fn spent_text(s: &Spent) -> String {
    let mut text = format!("epsilon {}, delta {}", s.epsilon, s.delta);
    if !s.rho.is_zero() {
        text.push_str(&format!(", rho {}", s.rho));
    }
    text
}

/// Checks a head recorded earlier by an auditor (`seq`, `hash`) against the
/// chain: the entry must still be there with that hash. Since each hash
/// covers every entry before it, this proves entries 1..=seq unchanged,
/// including against a rewrite of the whole file.
pub(crate) fn check_anchor(entries: &[AuditEntry], anchor: &(u64, String)) -> Option<String> {
    let (seq, hash) = anchor;
    match entries.iter().find(|e| e.seq == *seq) {
        None => Some(format!(
            "the recorded head (entry {seq}) is not in the log: it was truncated or replaced"
        )),
        Some(e) if !e.hash.eq_ignore_ascii_case(hash) => Some(format!(
            "entry {seq} does not have the recorded head hash: the log up to it was rewritten"
        )),
        Some(_) => None,
    }
}
