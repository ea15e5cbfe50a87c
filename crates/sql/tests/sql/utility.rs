//! Utility: on generated data with known truth, about 95% of 95% intervals
//! cover the truth, and public groups are all output.

use privagg_sql::QueryConfig;

use crate::common::{Row, column_f64, column_str, table_context};

/// Four public segments of 400, 200, 100 and 50 customers, one row each,
/// values in [10, 90] (bounds [0, 100] never bind): the truth is exact.
fn generated() -> (Vec<Row>, Vec<(&'static str, f64, f64)>) {
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for (s, n) in [("north", 400), ("south", 200), ("east", 100), ("west", 50)] {
        let mut sum = 0.0;
        for i in 0..n {
            let v = 10.0 + f64::from((i * 37) % 81);
            sum += v;
            rows.push((format!("{s}-{i}"), Some(s.to_string()), Some(v)));
        }
        truth.push((s, f64::from(n), sum));
    }
    (rows, truth)
}

#[tokio::test]
async fn ninety_five_percent_intervals_cover_the_truth() {
    let (rows, truth) = generated();
    let ctx = table_context(
        &rows,
        (0.0, 100.0),
        Some(vec!["north", "south", "east", "west", "empty"]),
        1,
    )
    .await;
    let config = QueryConfig {
        confidence: 0.95,
        intervals: true,
    };
    let (mut cells, mut covered) = ([0u32; 3], [0u32; 3]);
    for _ in 0..100 {
        let r = ctx
            .query_with(
                "alice",
                "SELECT seg, COUNT(*) AS n, SUM(v) AS total, AVG(v) AS mean FROM t GROUP BY seg",
                config,
            )
            .await
            .expect("query");
        let segs = column_str(&r.batches, "seg");
        assert_eq!(
            segs.len(),
            5,
            "every public segment is output, including one without rows"
        );
        assert!(segs.contains(&"empty".to_string()));
        for (s, n, sum) in &truth {
            let row = segs.iter().position(|x| x == s).expect("segment");
            for (j, (col, value)) in [("n", *n), ("total", *sum), ("mean", sum / n)]
                .into_iter()
                .enumerate()
            {
                let lo = column_f64(&r.batches, &format!("{col}_ci_low"))[row].expect("low");
                let hi = column_f64(&r.batches, &format!("{col}_ci_high"))[row].expect("high");
                cells[j] += 1;
                covered[j] += u32::from(lo <= value && value <= hi);
            }
        }
    }
    for (j, name) in ["COUNT", "SUM", "AVG"].iter().enumerate() {
        let rate = f64::from(covered[j]) / f64::from(cells[j]);
        // COUNT and SUM intervals are exact (coverage ≈ 95%); AVG's combine two
        // intervals by a union bound (coverage ≥ 95%, in practice higher).
        assert!(rate >= 0.92, "{name}: coverage {rate} below the 95% level");
        if j < 2 {
            assert!(
                rate <= 0.985,
                "{name}: coverage {rate}: intervals are much wider than they need to be"
            );
        }
    }
}
