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

/// PERCENTILE_CONT of sorted values.
fn percentile_cont(sorted: &[f64], p: f64) -> f64 {
    let h = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - h.floor()) * (sorted[hi] - sorted[lo])
}

#[tokio::test]
async fn percentile_intervals_cover_the_truth_and_shrink_with_the_group() {
    // Skewed values (a customer each) in three segments of 5,000, 500 and 20.
    let mut rows = Vec::new();
    let mut truth = Vec::new();
    for (s, n) in [("big", 5_000u32), ("mid", 500), ("tiny", 20)] {
        let mut values: Vec<f64> = (0..n)
            .map(|i| {
                let u = f64::from((i * 7_919) % n) / f64::from(n);
                (u * u * 90.0).floor() + 5.0
            })
            .collect();
        for (i, v) in values.iter().enumerate() {
            rows.push((format!("{s}-{i}"), Some(s.to_string()), Some(*v)));
        }
        values.sort_by(f64::total_cmp);
        truth.push((
            s,
            percentile_cont(&values, 0.5),
            percentile_cont(&values, 0.9),
        ));
    }
    let ctx = table_context(&rows, (0.0, 100.0), Some(vec!["big", "mid", "tiny"]), 1).await;
    let config = QueryConfig {
        confidence: 0.9,
        intervals: true,
    };
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 8) \
               seg, MEDIAN(v) AS med, PERCENTILE_CONT(v, 0.9) AS p90 FROM t GROUP BY seg";
    let (mut cells, mut covered) = (0u32, 0u32);
    let mut width = std::collections::HashMap::<&str, f64>::new();
    for _ in 0..25 {
        let r = ctx.query_with("alice", sql, config).await.expect("query");
        let segs = column_str(&r.batches, "seg");
        for (s, med, p90) in &truth {
            let row = segs.iter().position(|x| x == s).expect("segment");
            for (col, t) in [("med", *med), ("p90", *p90)] {
                let v = column_f64(&r.batches, col)[row].expect("value");
                let lo = column_f64(&r.batches, &format!("{col}_ci_low"))[row].expect("low");
                let hi = column_f64(&r.batches, &format!("{col}_ci_high"))[row].expect("high");
                assert!(lo <= v && v <= hi, "{s} {col}: {v} outside [{lo}, {hi}]");
                cells += 1;
                covered += u32::from(lo <= t && t <= hi);
                *width.entry(s).or_default() += hi - lo;
            }
        }
    }
    let rate = f64::from(covered) / f64::from(cells);
    assert!(
        rate >= 0.9,
        "percentile coverage {rate} below the 90% level"
    );
    // Each percentile gets ε = 4, so the rank error is about ±60 customers:
    // 20 customers cannot locate a percentile (nearly the whole range);
    // 5,000 can (a few units wide).
    assert!(width["tiny"] / 50.0 > 60.0, "{width:?}");
    assert!(width["big"] / 50.0 < 5.0, "{width:?}");
    assert!(width["mid"] > width["big"], "{width:?}");
    // The release flags the tiny segment's percentiles as too noisy.
    let r = ctx.query_with("alice", sql, config).await.expect("query");
    let flagged: Vec<_> = r
        .metadata
        .accuracy
        .iter()
        .filter(|c| c.too_noisy)
        .map(|c| c.column.as_str())
        .collect();
    assert!(flagged.contains(&"med"), "{flagged:?}");
}
