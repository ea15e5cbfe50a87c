//! An in-memory ledger with the same semantics as the SQLite one, for tests
//! and for embedding where durability is provided elsewhere.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::audit::{AuditEntry, AuditVerification, Decision};
use crate::error::BudgetError;
use crate::ledger::{
    ChargeRecord, ChargeRequest, Ledger, LedgerStore, Receipt, Rejection, charge_in, refund_in,
    reject_in, verify,
};
use crate::reconcile::Tables;
use crate::scope::{PrivacyCost, Scope, Spent};

/// A ledger held in process memory. Not durable: use [`crate::SqliteLedger`]
/// for anything that releases real results.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

#[derive(Clone, Debug, Default)]
struct State {
    spent: HashMap<Scope, Spent>,
    charges: Vec<ChargeRecord>,
    audit: Vec<AuditEntry>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on a copy of the state and keeps the copy only if `f` succeeds
    /// (a transaction).
    fn transact<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, BudgetError>,
    ) -> Result<T, BudgetError> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut copy = guard.clone();
        let out = f(&mut copy)?;
        *guard = copy;
        Ok(out)
    }
}

impl LedgerStore for State {
    fn find_charge(&mut self, request_id: &str) -> Result<Option<ChargeRecord>, BudgetError> {
        Ok(self
            .charges
            .iter()
            .find(|c| c.request_id == request_id)
            .cloned())
    }
    fn spent(&mut self, scope: &Scope) -> Result<Spent, BudgetError> {
        Ok(self.spent.get(scope).copied().unwrap_or_default())
    }
    fn set_spent(&mut self, scope: &Scope, spent: &Spent) -> Result<(), BudgetError> {
        self.spent.insert(scope.clone(), *spent);
        Ok(())
    }
    fn insert_charge(&mut self, record: &ChargeRecord) -> Result<(), BudgetError> {
        self.charges.push(record.clone());
        Ok(())
    }
    fn mark_refunded(&mut self, request_id: &str) -> Result<(), BudgetError> {
        self.charges
            .iter_mut()
            .filter(|c| c.request_id == request_id)
            .for_each(|c| c.refunded = true);
        Ok(())
    }
    fn audit_head(&mut self) -> Result<Option<(u64, String)>, BudgetError> {
        Ok(self.audit.last().map(|e| (e.seq, e.hash.clone())))
    }
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), BudgetError> {
        self.audit.push(entry.clone());
        Ok(())
    }
    fn last_audit(&mut self) -> Result<Option<AuditEntry>, BudgetError> {
        Ok(self.audit.last().cloned())
    }
    fn live_costs(&mut self, scope: &Scope) -> Result<Vec<PrivacyCost>, BudgetError> {
        Ok(self
            .charges
            .iter()
            .filter(|c| !c.refunded && c.scopes.contains(scope))
            .map(|c| c.cost)
            .collect())
    }
    fn last_charge(&mut self) -> Result<Option<String>, BudgetError> {
        Ok(self.charges.last().map(|c| c.request_id.clone()))
    }
    fn accepted_in_log(&mut self, request_id: &str) -> Result<bool, BudgetError> {
        Ok(self
            .audit
            .iter()
            .any(|e| e.decision == Decision::Accepted && e.request_id == request_id))
    }
}

impl Ledger for MemoryLedger {
    fn charge(&self, request: &ChargeRequest) -> Result<Receipt, BudgetError> {
        self.transact(|s| charge_in(s, request))?
    }
    fn refund(&self, request_id: &str, reason: &str) -> Result<(), BudgetError> {
        self.transact(|s| refund_in(s, request_id, reason))
    }
    fn record_rejection(&self, rejection: &Rejection) -> Result<(), BudgetError> {
        self.transact(|s| reject_in(s, rejection))
    }
    fn spent(&self, scope: &Scope) -> Result<Spent, BudgetError> {
        self.transact(|s| s.spent(scope))
    }
    fn charges(&self) -> Result<Vec<ChargeRecord>, BudgetError> {
        self.transact(|s| Ok(s.charges.clone()))
    }
    fn audit_log(&self) -> Result<Vec<AuditEntry>, BudgetError> {
        self.transact(|s| Ok(s.audit.clone()))
    }
    fn verify_ledger(
        &self,
        anchor: Option<&(u64, String)>,
    ) -> Result<AuditVerification, BudgetError> {
        self.transact(|s| {
            let charges: Vec<(i64, ChargeRecord)> = (1..).zip(s.charges.iter().cloned()).collect();
            let spent: Vec<(Scope, Spent)> = s.spent.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let tables = Tables {
                entries: &s.audit,
                charges: &charges,
                highest_id: None,
                spent: &spent,
            };
            Ok(verify(
                &tables,
                s.audit.last().map(|e| (e.seq, e.hash.clone())),
                anchor,
            ))
        })
    }
}
