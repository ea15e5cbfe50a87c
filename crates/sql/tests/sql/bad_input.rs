//! Bad input: NaN, ±∞ and NULL in values and keys, empty tables, extreme
//! values, huge bounds. Clear errors or documented handling, never a panic.

use privagg_sql::QueryConfig;

use crate::common::{column_f64, column_str, table_context};

#[tokio::test]
async fn nan_infinity_and_null_values_and_keys() {
    let mut rows: Vec<(String, Option<String>, Option<f64>)> = (0..300)
        .map(|i| (format!("u{i}"), Some("a".to_string()), Some(5.0)))
        .collect();
    rows.extend([
        ("x1".to_string(), Some("a".to_string()), Some(f64::NAN)),
        ("x2".to_string(), Some("a".to_string()), Some(f64::INFINITY)),
        (
            "x3".to_string(),
            Some("a".to_string()),
            Some(f64::NEG_INFINITY),
        ),
        ("x4".to_string(), Some("a".to_string()), None),
        ("x5".to_string(), None, Some(1.0)),
    ]);
    let ctx = table_context(&rows, (0.0, 10.0), Some(vec!["a", "b"]), 1).await;
    let r = ctx
        .query_with("alice", "SELECT seg, COUNT(*) AS n, COUNT(v) AS nv, SUM(v) AS s, AVG(v) AS m, STDDEV(v) AS sd, MEDIAN(v) AS med FROM t GROUP BY seg", QueryConfig { confidence: 0.9, intervals: true })
        .await
        .expect("NaN/inf/NULL are handled");
    let m = column_f64(&r.batches, "m");
    assert!(
        m.iter()
            .flatten()
            .all(|v| v.is_finite() && (0.0..=10.0).contains(v)),
        "{m:?}"
    );
    assert!(
        column_f64(&r.batches, "s")
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    );
    // NULL keys are a group of their own among private keys; with public keys they are dropped.
    assert_eq!(column_str(&r.batches, "seg"), vec!["a", "b"]);
}

#[tokio::test]
async fn empty_tables() {
    let ctx = table_context(&[], (0.0, 10.0), Some(vec!["a", "b"]), 1).await;
    let r = ctx
        .query("alice", "SELECT COUNT(*) AS n, AVG(v) AS m FROM t")
        .await
        .expect("global aggregate on an empty table");
    assert_eq!(
        column_f64(&r.batches, "n").len(),
        1,
        "a global aggregate always has one row"
    );
    let r = ctx
        .query("alice", "SELECT seg, COUNT(*) FROM t GROUP BY seg")
        .await
        .expect("public groups");
    assert_eq!(column_str(&r.batches, "seg"), vec!["a", "b"]);
    let r = ctx
        .query("alice", "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (group_selection_strategy = LAPLACE_THRESHOLD) seg, COUNT(*) FROM t GROUP BY seg")
        .await
        .expect("private groups");
    assert_eq!(r.metadata.groups_released, 0);
}

#[tokio::test]
async fn extreme_values_and_bounds() {
    let rows: Vec<(String, Option<String>, Option<f64>)> = vec![
        ("a".into(), Some("s".into()), Some(f64::MAX)),
        ("b".into(), Some("s".into()), Some(f64::MIN)),
        ("c".into(), Some("s".into()), Some(9.2e18)),
        ("d".into(), Some("s".into()), Some(-0.0)),
        ("e".into(), Some("s".into()), Some(f64::MIN_POSITIVE)),
    ];
    let ctx = table_context(&rows, (-1e12, 1e12), Some(vec!["s"]), 1).await;
    let r = ctx
        .query(
            "alice",
            "SELECT seg, SUM(v) AS s, AVG(v) AS m, VAR_POP(v) AS var FROM t GROUP BY seg",
        )
        .await
        .expect("extreme values clamp");
    assert!(
        column_f64(&r.batches, "s")
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    );
    // Bounds so large that the noise grid cannot represent them exactly: a clear error.
    let err = ctx
        .query(
            "alice",
            "SELECT SUM(v, contribution_bounds_per_group => (0, 1e300)) FROM t",
        )
        .await
        .expect_err("absurd bounds");
    assert_eq!(
        err.to_string(),
        "query rejected: contribution bounds (0, 1e300) must be within ±1e15"
    );
    // Tiny bounds are valid: the grid follows the scale.
    let r = ctx
        .query(
            "alice",
            "SELECT SUM(v, contribution_bounds_per_group => (0, 1e-300)) AS s FROM t",
        )
        .await
        .expect("tiny bounds");
    assert!(
        column_f64(&r.batches, "s")
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    );
}

#[tokio::test]
async fn unknown_analyst_is_refused_and_budget_exhaustion_is_clear() {
    let rows: Vec<(String, Option<String>, Option<f64>)> = (0..10)
        .map(|i| (format!("u{i}"), Some("a".into()), Some(1.0)))
        .collect();
    let ctx = table_context(&rows, (0.0, 10.0), None, 1).await;
    let err = ctx
        .query("mallory", "SELECT COUNT(*) FROM t")
        .await
        .expect_err("unknown analyst");
    assert_eq!(
        err.to_string(),
        "unknown analyst 'mallory': add it under [[analysts]] in the catalog"
    );
    ctx.query(
        "alice",
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1000) COUNT(*) FROM t",
    )
    .await
    .expect("affordable");
    let mut last = None;
    for _ in 0..200 {
        if let Err(e) = ctx
            .query(
                "alice",
                "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1000) COUNT(*) FROM t",
            )
            .await
        {
            last = Some(e);
            break;
        }
    }
    let err = last.expect("the budget of 100000 runs out");
    assert!(
        err.to_string()
            .starts_with("budget exhausted for analyst 'alice': requested epsilon 1000"),
        "{err}"
    );
}
