//! End-to-end smoke tests of the SQL path over real CSVs.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

mod common;

#[tokio::test]
async fn segment_counts_on_d1() {
    let ctx = common::context(common::D1).await;
    let r = ctx
        .query_with("alice", "SELECT Segment, COUNT(*) AS n, AVG(Usage) AS avg_usage FROM users GROUP BY Segment ORDER BY Segment", privagg_sql::QueryConfig { confidence: 0.95, intervals: true })
        .await
        .expect("query");
    println!("{}", common::show(&r.batches));
    println!("{}", serde_json::to_string_pretty(&r.metadata).unwrap());
}
