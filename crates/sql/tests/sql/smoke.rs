//! End-to-end smoke tests of the SQL path over real CSVs.

use crate::common::{column_f64, column_str, show};

#[tokio::test]
async fn segment_counts_on_d1() {
    let ctx = crate::common::context(crate::common::D1).await;
    let r = ctx
        .query_with(
            "alice",
            "SELECT Segment, COUNT(*) AS n, AVG(Usage) AS avg_usage FROM users GROUP BY Segment ORDER BY Segment",
            privagg_sql::QueryConfig { confidence: 0.95, intervals: true },
        )
        .await
        .expect("query");
    // Public segments A, B, C and Z, in order, each with an interval around its value.
    assert_eq!(
        column_str(&r.batches, "Segment"),
        vec!["A", "B", "C", "Z"],
        "{}",
        show(&r.batches)
    );
    let (n, lo, hi) = (
        column_f64(&r.batches, "n"),
        column_f64(&r.batches, "n_ci_low"),
        column_f64(&r.batches, "n_ci_high"),
    );
    for i in 0..4 {
        let (v, l, h) = (n[i].expect("n"), lo[i].expect("low"), hi[i].expect("high"));
        assert!(l <= v && v <= h && v >= 0.0, "{l} {v} {h}");
    }
    assert!(
        column_f64(&r.batches, "avg_usage")
            .iter()
            .flatten()
            .all(|m| (0.0..=100.0).contains(m))
    );
    assert_eq!(r.metadata.epsilon.to_string(), "1");
    assert_eq!(
        r.metadata.split.len(),
        2,
        "COUNT and AVG share epsilon; no selection with public keys"
    );
    assert_eq!(
        r.metadata.accuracy.len(),
        8,
        "one accuracy entry per released aggregate cell"
    );
}

#[tokio::test]
async fn pums_statistics_with_percentiles() {
    let ctx = crate::common::context(crate::common::PUMS).await;
    let r = ctx
        .query_with(
            "alice",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 5.0) sex, COUNT(*) AS n, SUM(income) AS total, AVG(age) AS age, VARIANCE(age) AS var_age, STDDEV(age) AS sd_age, MEDIAN(age) AS median_age, PERCENTILE_CONT(income, 0.9) AS p90 FROM pums GROUP BY sex ORDER BY sex",
            privagg_sql::QueryConfig { confidence: 0.95, intervals: true },
        )
        .await
        .expect("query");
    assert_eq!(
        column_str(&r.batches, "sex"),
        vec!["0", "1"],
        "{}",
        show(&r.batches)
    );
    let in_range = |col: &str, lo: f64, hi: f64| {
        column_f64(&r.batches, col)
            .iter()
            .all(|v| v.is_some_and(|v| (lo..=hi).contains(&v)))
    };
    assert!(in_range("age", 0.0, 100.0) && in_range("median_age", 0.0, 100.0));
    assert!(in_range("var_age", 0.0, 2500.0) && in_range("sd_age", 0.0, 50.0));
    assert!(in_range("p90", 0.0, 500_000.0));
    // The ages of PUMS adults: a DP median at epsilon 5 lands near the true ~40s.
    assert!(in_range("median_age", 20.0, 65.0), "{}", show(&r.batches));
    assert_eq!(r.metadata.epsilon.to_string(), "5");
}

/// `SET` changes a session's settings only when its request succeeds:
/// `explain` and rejected requests leave them as they were. Other sessions
/// over the same engine, and the engine's one-shot queries, never see them.
#[tokio::test]
async fn set_applies_only_when_the_request_succeeds() {
    let engine = std::sync::Arc::new(crate::common::context(crate::common::D1).await);
    let mut session = privagg_sql::Session::new(engine.clone());
    let mut other = privagg_sql::Session::new(engine.clone());
    let count = "SELECT COUNT(*) FROM users";
    let epsilon = |r: privagg_sql::Release| r.metadata.epsilon.to_string();
    session
        .explain(&format!("SET privagg.epsilon = 0.25; {count}"))
        .await
        .expect("explain");
    assert_eq!(
        epsilon(session.query("alice", count).await.expect("q")),
        "1"
    );
    session
        .query(
            "alice",
            "SET privagg.epsilon = 0.25; SELECT MAX(Usage) FROM users",
        )
        .await
        .expect_err("rejected");
    assert_eq!(
        epsilon(session.query("alice", count).await.expect("q")),
        "1"
    );
    let r = session
        .query("alice", &format!("SET privagg.epsilon = 0.25; {count}"))
        .await
        .expect("set");
    assert_eq!(epsilon(r), "0.25");
    assert_eq!(
        epsilon(session.query("alice", count).await.expect("q")),
        "0.25"
    );
    assert_eq!(epsilon(other.query("alice", count).await.expect("q")), "1");
    let one_shot = engine
        .query("alice", &format!("SET privagg.epsilon = 0.5; {count}"))
        .await
        .expect("one-shot");
    assert_eq!(epsilon(one_shot), "0.5");
    assert_eq!(epsilon(engine.query("alice", count).await.expect("q")), "1");
}

/// Functions that DataFusion only evaluates after simplifying them
/// (`arrow_cast`) still work inside the total row expressions.
#[tokio::test]
async fn simplified_functions_work_below_the_aggregation() {
    let ctx = crate::common::context(crate::common::D1).await;
    let r = ctx
        .query(
            "alice",
            "SELECT COUNT(*) AS n FROM users WHERE arrow_cast(Usage, 'Int32') >= 0",
        )
        .await
        .expect("query");
    let n = column_f64(&r.batches, "n")[0].expect("n");
    // d1 has 1,000 users with Usage >= 0; noise at ε 1 is a few units.
    assert!(n > 900.0, "{n}: arrow_cast gave NULLs");
}

/// `LIMIT 0` releases nothing whatever the data: it costs nothing (the
/// request is still audited, with a zero charge).
#[tokio::test]
async fn limit_zero_costs_nothing() {
    let ctx = crate::common::context(crate::common::D1).await;
    let r = ctx
        .query(
            "alice",
            "SELECT Segment, COUNT(*) AS n FROM users GROUP BY Segment ORDER BY n LIMIT 0",
        )
        .await
        .expect("query");
    assert_eq!(r.metadata.epsilon.to_string(), "0");
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    let spent = ctx
        .ledger()
        .spent(&privagg_budget::Scope::Analyst("alice".into()))
        .expect("spent");
    assert_eq!(spent.epsilon.to_string(), "0");
    // LIMIT 1 still costs the query's epsilon.
    let r = ctx
        .query("alice", "SELECT COUNT(*) FROM users LIMIT 1")
        .await
        .expect("query");
    assert_eq!(r.metadata.epsilon.to_string(), "1");
}

/// A table cap of ε 50.
const CAP: &str = "epsilon = 50.0\ndelta = 1e-3\n";

/// A catalog of `pums` (PUMS_dup.csv) and a second private table `name` over
/// `file`, both with unit `pid` and `table_extra` under each.
fn pums_and(name: &str, file: &str, table_extra: &str) -> String {
    format!(
        "[ledger]\npath = \"unused.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 100.0\ndelta = 1e-3\n\
         [[tables]]\nname = \"pums\"\npath = \"PUMS_dup.csv\"\nprivacy_unit = \"pid\"\n{table_extra}\
         [[tables]]\nname = \"{name}\"\npath = \"{file}\"\nprivacy_unit = \"pid\"\n{table_extra}"
    )
}

/// Two catalog tables over the same file (same unit, no consent column) have
/// equal view plans: the table is told by its name, so its own cap is
/// charged, and a join of the two names both.
#[tokio::test]
async fn two_tables_over_one_file_are_told_apart_by_name() {
    let ctx = crate::common::context(&pums_and("rev", "PUMS_dup.csv", CAP)).await;
    ctx.query("alice", "SELECT COUNT(*) FROM rev")
        .await
        .expect("query");
    let spent = |table: &str| {
        ctx.ledger()
            .spent(&privagg_budget::Scope::Table(table.into()))
            .expect("spent")
            .epsilon
            .to_string()
    };
    assert_eq!((spent("rev").as_str(), spent("pums").as_str()), ("1", "0"));
    let err = ctx
        .query(
            "alice",
            "SELECT COUNT(*) FROM pums p JOIN rev r ON p.age = r.age",
        )
        .await
        .expect_err("a join not on the unit");
    assert!(
        err.to_string()
            .contains("joining private tables 'pums' and 'rev'"),
        "{err}"
    );
}

/// A CTE before `SELECT WITH DIFFERENTIAL_PRIVACY` is a derived table: it
/// parses, and goes through the same allowlist as a sub-query in FROM.
#[tokio::test]
async fn a_cte_is_a_derived_table_under_the_same_analysis() {
    let ctx = crate::common::context(crate::common::PUMS).await;
    let release = ctx
        .query(
            "alice",
            "WITH adults AS (SELECT pid, sex, age FROM pums WHERE age >= 18) \
             SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.5) sex, COUNT(*) AS n \
             FROM adults GROUP BY sex",
        )
        .await
        .expect("a CTE over the private table");
    assert_eq!(release.metadata.epsilon.to_string(), "0.5");
    assert_eq!(release.metadata.groups_released, 2);
    let err = ctx
        .query(
            "alice",
            "WITH per_sex AS (SELECT sex, COUNT(*) AS c FROM pums GROUP BY sex) \
             SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.5) SUM(c) FROM per_sex",
        )
        .await
        .expect_err("an aggregation inside the CTE");
    assert!(
        err.to_string().contains("aggregation in a sub-query"),
        "{err}"
    );
}

/// `FROM a, b WHERE a.unit = b.unit` is the unit join it means; a comma join
/// on anything else, or on nothing, is refused like the JOIN it stands for.
#[tokio::test]
async fn a_comma_join_on_the_unit_is_a_unit_join() {
    let ctx = crate::common::context(&pums_and("people", "PUMS_pid.csv", "")).await;
    ctx.query(
        "alice",
        "SELECT COUNT(*) AS n FROM pums a, people b WHERE a.pid = b.pid AND a.age > 20",
    )
    .await
    .expect("a comma join on the unit");
    for sql in [
        "SELECT COUNT(*) AS n FROM pums a, people b WHERE a.age = b.age",
        "SELECT COUNT(*) AS n FROM pums a, people b",
    ] {
        let err = ctx.query("alice", sql).await.expect_err(sql);
        assert!(
            err.to_string()
                .contains("joining private tables 'pums' and 'people' is only supported on their privacy units"),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn per_row_bounds_clamp_each_row_and_per_group_bounds_the_total() {
    // uid 1 has four rows of 10 in `a` (L∞ = 2), uid 2 one row of 5, uid 3 one
    // row of 100 in `b`. Per row (0, 8): uid 1's rows clamp to 8, 32 over 4
    // rows weighs 2 rows' worth = 16; a = 16 + 5 = 21, b = 8. Per group (0, 8):
    // uid 1's total 40 clamps to 8; a = 8 + 5 = 13, b = 8.
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "uid,seg,spend\n1,a,10\n1,a,10\n1,a,10\n1,a,10\n2,a,5\n3,b,100\n",
    )
    .expect("write");
    let ctx = crate::common::context(&format!(
        "[ledger]\npath = \"unused.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 1000.0\n\
         [[tables]]\nname = \"t\"\npath = {:?}\nprivacy_unit = \"uid\"\n\
         max_groups_contributed = 1\nmax_rows_per_group = 2\n\
         [tables.columns.seg]\npublic_values = [\"a\", \"b\"]\n",
        csv.display().to_string()
    ))
    .await;
    let r = ctx
        .query(
            "alice",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1000) seg, \
             SUM(spend, contribution_bounds_per_row => (0, 8)) AS per_row, \
             SUM(spend, contribution_bounds_per_group => (0, 8)) AS per_group \
             FROM t GROUP BY seg ORDER BY seg",
        )
        .await
        .expect("per-row bounds");
    let per_row = crate::common::column_f64(&r.batches, "per_row");
    let per_group = crate::common::column_f64(&r.batches, "per_group");
    // Noise: scale k·B/ε_share = 16/500 (per row), 8/500: within ±1 here.
    for (got, want) in per_row.iter().zip([21.0, 8.0]) {
        assert!(
            (got.expect("value") - want).abs() < 1.0,
            "per row: {per_row:?}"
        );
    }
    for (got, want) in per_group.iter().zip([13.0, 8.0]) {
        assert!(
            (got.expect("value") - want).abs() < 1.0,
            "per group: {per_group:?}"
        );
    }
}
