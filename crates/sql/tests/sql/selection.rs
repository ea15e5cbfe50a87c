//! Partition selection through SQL: keys held by a single customer are
//! released no more often than δ allows; large groups are released.

use privagg_noise::accuracy::clopper_pearson_lower;

use crate::common::{column_str, table_context};

#[tokio::test]
async fn single_customer_keys_are_released_at_most_at_rate_delta() {
    // 2,000 keys with one customer each, and 3 keys with 500 customers.
    let mut rows: Vec<(String, Option<String>, Option<f64>)> = (0..2000)
        .map(|i| (format!("solo{i}"), Some(format!("rare{i}")), Some(1.0)))
        .collect();
    for g in 0..3 {
        rows.extend((0..500).map(|i| (format!("big{g}-{i}"), Some(format!("big{g}")), Some(1.0))));
    }
    let ctx = table_context(&rows, (0.0, 10.0), None, 1).await;
    let delta = 0.1;
    let mut released_rare = 0u64;
    let trials = 3;
    for _ in 0..trials {
        let r = ctx
            .query("alice", &format!("SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1, delta = {delta}) seg, COUNT(*) FROM t GROUP BY seg"))
            .await
            .expect("query");
        let segs = column_str(&r.batches, "seg");
        for g in 0..3 {
            assert!(
                segs.contains(&format!("big{g}")),
                "a group of 500 customers was not released"
            );
        }
        released_rare += segs.iter().filter(|s| s.starts_with("rare")).count() as u64;
        assert!(r.metadata.units_for_even_odds.is_some());
    }
    let n = 2000 * trials;
    let lower = clopper_pearson_lower(released_rare, n, 1e-4);
    assert!(
        lower <= delta,
        "single-customer keys released {released_rare}/{n}: CP lower bound {lower} > delta {delta}"
    );
    // And the rule is not trivially suppressing everything: about δ of them appear.
    assert!(
        released_rare as f64 > 0.5 * delta * n as f64,
        "only {released_rare}/{n} released: expected about delta"
    );
}
