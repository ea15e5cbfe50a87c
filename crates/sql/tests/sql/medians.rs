//! Per-day medians of ../shared/data/restaurant_week.csv (300–500 visits a
//! day, as a newcomer asked for them): the widths `docs/accuracy.md` reports.
//! `cargo test -p privagg-sql --test sql medians -- --nocapture` prints them.

use privagg_sql::QueryConfig;

use crate::common::{column_f64, context, shared_data};
use crate::datasets::CATALOG;

/// The raw per-day medians (no bounding), to say how often intervals hold them.
fn raw_medians() -> Vec<f64> {
    let text = std::fs::read_to_string(shared_data().join("restaurant_week.csv")).expect("csv");
    let mut days: Vec<Vec<f64>> = vec![Vec::new(); 7];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let day: usize = f[4].trim().parse().expect("day");
        days[day - 1].push(f[3].trim().parse().expect("spend"));
    }
    days.iter_mut()
        .map(|d| {
            d.sort_by(f64::total_cmp);
            let n = d.len();
            (d[(n - 1) / 2] + d[n / 2]) / 2.0
        })
        .collect()
}

#[tokio::test]
async fn restaurant_week_medians_per_day_are_narrow() {
    let ctx = context(CATALOG).await;
    let raw = raw_medians();
    let runs = 20;
    for epsilon in [1.0, 2.0] {
        let sql = format!(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = {epsilon}, max_rows_contributed = 1) Day, \
             MEDIAN(\"Money spent (euros)\") AS m FROM visits GROUP BY Day ORDER BY Day"
        );
        let (mut width, mut error, mut covered, mut cells) = (0.0, 0.0, 0, 0);
        for _ in 0..runs {
            let config = QueryConfig {
                confidence: 0.95,
                intervals: true,
            };
            let r = ctx.query_with("alice", &sql, config).await.expect("median");
            let m = column_f64(&r.batches, "m");
            let low = column_f64(&r.batches, "m_ci_low");
            let high = column_f64(&r.batches, "m_ci_high");
            for day in 0..7 {
                let (v, l, h) = (
                    m[day].expect("m"),
                    low[day].expect("low"),
                    high[day].expect("high"),
                );
                assert!(l <= v && v <= h, "day {}: {v} outside [{l}, {h}]", day + 1);
                width += h - l;
                error += (v - raw[day]).abs();
                covered += usize::from(l <= raw[day] && raw[day] <= h);
                cells += 1;
            }
        }
        let mean = width / f64::from(cells);
        println!(
            "epsilon {epsilon}: mean 95% interval width {mean:.1} euros over {cells} day-medians \
             (range 60); mean |median − raw median| {:.2}; {covered}/{cells} intervals hold the raw median",
            error / f64::from(cells)
        );
        // The quantile tree gave 38.0 (ε 2) and 58.9 (ε 1) here: most of the range.
        let limit = if epsilon >= 2.0 { 16.0 } else { 28.0 };
        assert!(mean < limit, "epsilon {epsilon}: mean width {mean}");
    }
}
