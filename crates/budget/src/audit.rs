//! The audit log: every request, accepted, rejected or refunded, appended with
//! a SHA-256 hash chain so that editing, inserting or deleting an entry is
//! detected by [`verify_chain`].
//!
//! `hash_n = SHA-256(hash_{n−1} ‖ fields_n)` with every field length-prefixed
//! (so no two different entries serialise alike) and `hash_0` = 64 zeros. The
//! ledger also stores the newest (seq, hash) as the chain head, so truncating
//! the log is detected too. An attacker who can rewrite the whole file and
//! recompute every hash is out of scope (that needs an external anchor).

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::amount::Amount;
use crate::scope::Scope;

/// The hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Charged; results may be released.
    Accepted,
    /// Refused (invalid, unsupported, or over budget); nothing charged.
    Rejected,
    /// A charge returned because the request failed before reading private data.
    Refunded,
}

impl Decision {
    /// Stable text form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
            Decision::Refunded => "refunded",
        }
    }

    /// Parses [`Decision::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "accepted" => Some(Decision::Accepted),
            "rejected" => Some(Decision::Rejected),
            "refunded" => Some(Decision::Refunded),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit entry as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Who asked.
    pub analyst: String,
    /// The request's idempotency key.
    pub request_id: String,
    /// The request (SQL text, job name, ...).
    pub request_text: String,
    /// What happened.
    pub decision: Decision,
    /// Why (empty when accepted).
    pub reason: String,
    /// ε charged (or refunded, or requested when rejected).
    pub epsilon: Amount,
    /// δ likewise.
    pub delta: Amount,
    /// ρ likewise, when known.
    pub rho: Option<Amount>,
    /// The scopes charged or refunded (empty for rejections, and for entries
    /// written by ledgers of schema version 1, which did not record them).
    pub scopes: Vec<Scope>,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry should have, given its fields and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(self.prev_hash.as_bytes());
        field(&self.seq.to_le_bytes());
        field(&self.time_ms.to_le_bytes());
        field(self.analyst.as_bytes());
        field(self.request_id.as_bytes());
        field(self.request_text.as_bytes());
        field(self.decision.as_str().as_bytes());
        field(self.reason.as_bytes());
        field(self.epsilon.to_string().as_bytes());
        field(self.delta.to_string().as_bytes());
        field(
            self.rho
                .map(|r| r.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        // Absent (not empty) when there are no scopes, so entries written
        // before scopes were recorded keep their hashes.
        if !self.scopes.is_empty() {
            field(scope_keys(&self.scopes).as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The entry's time as ISO 8601 UTC.
    pub fn time(&self) -> String {
        format_time_ms(self.time_ms)
    }
}

/// Scopes as stored: their keys, one per line.
pub(crate) fn scope_keys(scopes: &[Scope]) -> String {
    scopes.iter().map(Scope::key).collect::<Vec<_>>().join("\n")
}

/// The result of checking a ledger: its hash chain, and the money (every
/// scope's spend and every charge recomputed from the chain).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    /// The first entry whose hash, link or position is wrong, if any.
    pub first_broken: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
    /// Disagreements between the chain and the charges and spends it
    /// implies (empty when only the chain was checked, or all agree).
    pub problems: Vec<String>,
    /// The chain head (newest seq and hash) as stored: an auditor records it
    /// and checks a later copy against it (truncation and rewriting of the
    /// whole file are only detectable against such an external record).
    pub head: Option<(u64, String)>,
    /// Charges checked against the chain.
    pub charges: u64,
    /// Scopes whose spend was recomputed.
    pub scopes: u64,
}

impl AuditVerification {
    /// `true` when the chain and the money both verify.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.problems.is_empty()
    }
}

/// Verifies entries (in stored order) against their hashes, links and the
/// stored head (`None` when the log is empty).
pub fn verify_chain(entries: &[AuditEntry], head: Option<(u64, String)>) -> AuditVerification {
    let broken = |seq: u64, problem: String| AuditVerification {
        entries: entries.len() as u64,
        first_broken: Some(seq),
        problem: Some(problem),
        head: head.clone(),
        ..AuditVerification::default()
    };
    let mut prev = GENESIS_HASH.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        if e.seq != expected_seq {
            return broken(
                expected_seq,
                format!(
                    "entry {expected_seq} is missing (found {} in its place)",
                    e.seq
                ),
            );
        }
        if e.prev_hash != prev {
            return broken(
                e.seq,
                "does not link to the previous entry (an entry before it was changed or removed)"
                    .into(),
            );
        }
        if e.compute_hash() != e.hash {
            return broken(
                e.seq,
                "its contents do not match its hash (the entry was edited)".into(),
            );
        }
        prev = e.hash.clone();
    }
    match (&head, entries.last()) {
        (None, None) => {}
        (Some((seq, hash)), Some(last)) if *seq == last.seq && *hash == last.hash => {}
        (Some((seq, _)), last) if *seq > last.map_or(0, |l| l.seq) => {
            let seq = *seq;
            return broken(
                seq.min(entries.len() as u64 + 1),
                format!(
                    "the log ends before its recorded head (entry {seq}): entries were removed"
                ),
            );
        }
        (Some((seq, _)), _) => {
            let seq = *seq;
            return broken(
                seq,
                format!(
                    "the recorded chain head (entry {seq}) is not the log's last entry: the head or the log was edited"
                ),
            );
        }
        (None, Some(_)) => return broken(1, "the chain head record is missing".into()),
    }
    AuditVerification {
        entries: entries.len() as u64,
        head,
        ..AuditVerification::default()
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_time_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    time_ms: 1_700_000_000_000 + seq as i64,
                    analyst: "alice".into(),
                    request_id: format!("r{seq}"),
                    request_text: "SELECT 1".into(),
                    decision: Decision::Accepted,
                    reason: String::new(),
                    epsilon: Amount::from_units(seq as u128),
                    delta: Amount::ZERO,
                    rho: None,
                    scopes: vec![Scope::Analyst("alice".into())],
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn head(entries: &[AuditEntry]) -> Option<(u64, String)> {
        entries.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert!(verify_chain(&c, head(&c)).is_intact());
        assert!(verify_chain(&[], None).is_intact());
    }

    #[test]
    fn edits_deletions_and_truncation_are_found() {
        let c = chain(5);
        let mut edited = c.clone();
        edited[2].request_text = "SELECT 2".into();
        assert_eq!(verify_chain(&edited, head(&c)).first_broken, Some(3));

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted, head(&c)).first_broken, Some(2));

        let truncated = c[..4].to_vec();
        assert_eq!(verify_chain(&truncated, head(&c)).first_broken, Some(5));

        let mut rehashed = c.clone();
        rehashed[1].reason = "tampered".into();
        rehashed[1].hash = rehashed[1].compute_hash();
        assert_eq!(
            verify_chain(&rehashed, head(&c)).first_broken,
            Some(3),
            "the next link breaks"
        );
    }

    #[test]
    fn time_format() {
        assert_eq!(format_time_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_time_ms(1_795_910_400_123),
            "2026-11-29T00:00:00.123Z"
        );
        assert_eq!(format_time_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
