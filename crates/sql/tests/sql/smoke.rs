//! End-to-end smoke tests of the SQL path over real CSVs.

#[tokio::test]
async fn segment_counts_on_d1() {
    let ctx = crate::common::context(crate::common::D1).await;
    let r = ctx
        .query_with("alice", "SELECT Segment, COUNT(*) AS n, AVG(Usage) AS avg_usage FROM users GROUP BY Segment ORDER BY Segment", privagg_sql::QueryConfig { confidence: 0.95, intervals: true })
        .await
        .expect("query");
    println!("{}", crate::common::show(&r.batches));
    println!("{}", serde_json::to_string_pretty(&r.metadata).unwrap());
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
    println!("{}", crate::common::show(&r.batches));
}
