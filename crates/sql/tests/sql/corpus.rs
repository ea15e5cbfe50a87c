//! The accept / reject corpus: every query in `corpus.txt` with the exact
//! outcome it must have (`ok`, or the full error message). Rejections must
//! charge nothing and be audited.
//!
//! To update after an intended change: `PRIVAGG_BLESS=1 cargo test -p privagg-sql corpus`
//! rewrites `corpus.txt`; review the diff.

use std::sync::Arc;

use privagg_budget::{Ledger, MemoryLedger, Scope};
use privagg_sql::{Catalog, Engine, TableSource};

const CATALOG: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100000.0
delta = 0.5
[[tables]]
name = "pums"
path = "PUMS_dup.csv"
privacy_unit = "pid"
max_groups_contributed = 1
max_rows_per_group = 1
[tables.columns.age]
lower = 0.0
upper = 100.0
[tables.columns.income]
lower = 0.0
upper = 500000.0
[tables.columns.sex]
public_values = [0, 1]
[tables.columns.educ]
type = "int64"
[tables.columns.race]
type = "int64"
[tables.columns.married]
type = "int64"
[tables.columns.pid]
type = "int64"
[[tables]]
name = "pums_pid"
path = "PUMS_pid.csv"
privacy_unit = "pid"
[tables.columns.pid]
type = "int64"
[tables.columns.age]
type = "int64"
[tables.columns.income]
type = "float64"
[tables.columns.educ]
type = "int64"
[[tables]]
name = "users"
path = "d1.csv"
privacy_unit = "UserId"
[tables.columns.Usage]
type = "int64"
[[tables]]
name = "visits"
path = "restaurant_week.csv"
privacy_unit = "VisitorId"
max_groups_contributed = 3
[tables.columns.VisitorId]
type = "int64"
[tables.columns.Day]
type = "int64"
[tables.columns."Money spent (euros)"]
type = "float64"
"#;

fn corpus_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sql/corpus.txt")
}

/// `(query, expected)` pairs: a query line, then `=> expected`, blank-line separated.
fn read_corpus() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_path()).expect("corpus.txt");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let (query, expected) = block.split_once("\n=> ").expect("query then `=> expected`");
            (query.trim().to_string(), expected.trim().to_string())
        })
        .collect()
}

async fn context() -> (Engine, Arc<MemoryLedger>) {
    let catalog =
        Catalog::parse(CATALOG, "corpus.toml", crate::common::shared_data()).expect("catalog");
    let ledger = Arc::new(MemoryLedger::new());
    let mut ctx = Engine::with_ledger(catalog, ledger.clone())
        .await
        .expect("context");
    let dir = tempfile::tempdir().expect("tempdir");
    let names = dir.path().join("educ_names.csv");
    let mut csv = String::from("educ,name\n");
    for e in 1..=16 {
        csv.push_str(&format!("{e},level {}\n", (e + 3) / 4));
    }
    std::fs::write(&names, csv).expect("write");
    ctx.register_public_table("educ_names", TableSource::Path(names))
        .await
        .expect("public table");
    std::mem::forget(dir); // the CSV is read lazily by DataFusion
    (ctx, ledger)
}

#[tokio::test]
async fn accept_reject_corpus() {
    let corpus = read_corpus();
    assert!(
        corpus.len() >= 40,
        "the corpus has {} queries",
        corpus.len()
    );
    let (ctx, ledger) = context().await;
    let mut actual = Vec::new();
    for (query, expected) in &corpus {
        let spent_before = ledger
            .spent(&Scope::Analyst("alice".into()))
            .expect("spent");
        let audit_before = ledger.audit_log().expect("audit").len();
        let outcome = match ctx.query("alice", query).await {
            Ok(release) => {
                assert!(
                    release.metadata.groups_released > 0 || query.contains("LIMIT 0"),
                    "{query}: empty release"
                );
                "ok".to_string()
            }
            Err(e) => {
                assert_eq!(
                    ledger
                        .spent(&Scope::Analyst("alice".into()))
                        .expect("spent"),
                    spent_before,
                    "{query}: a rejection charged budget"
                );
                e.to_string()
            }
        };
        assert_eq!(
            ledger.audit_log().expect("audit").len(),
            audit_before + 1,
            "{query}: not audited exactly once"
        );
        actual.push((query.clone(), outcome.clone()));
        if std::env::var("PRIVAGG_BLESS").is_err() {
            assert_eq!(&outcome, expected, "query: {query}");
        }
    }
    if std::env::var("PRIVAGG_BLESS").is_ok() {
        let text: String = actual
            .iter()
            .map(|(q, o)| format!("{q}\n=> {o}\n\n"))
            .collect();
        std::fs::write(corpus_path(), text).expect("bless");
    }
    let accepted = actual.iter().filter(|(_, o)| o == "ok").count();
    assert!(
        accepted >= 15 && actual.len() - accepted >= 25,
        "{accepted} accepted of {}",
        actual.len()
    );
}
