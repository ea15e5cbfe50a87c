//! `explain` predicts, before any data is read and without charging, the
//! accuracy that the release then reports.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use privagg_sql::QueryConfig;

use crate::common::{PUMS, context};

const QUERY: &str = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.9) \
    sex, COUNT(*) AS n, SUM(age, contribution_bounds_per_group => (0, 400)) AS total, \
    AVG(age) AS avg_age, MEDIAN(age) AS median_age FROM pums GROUP BY sex";

fn column(batch: &datafusion::arrow::array::RecordBatch, name: &str) -> Vec<f64> {
    let a = cast(batch.column_by_name(name).expect(name), &DataType::Float64).expect("cast");
    a.as_primitive::<Float64Type>().values().to_vec()
}

#[tokio::test]
async fn explain_predicts_the_released_interval_widths_and_charges_nothing() {
    let ctx = context(PUMS).await;
    let e = ctx.explain(QUERY).await.expect("explain");
    assert_eq!(e.epsilon.to_string(), "0.9");
    assert_eq!(e.outputs.len(), 4);
    let by_name = |label: &str| {
        e.outputs
            .iter()
            .find(|o| o.aggregate.to_lowercase().starts_with(label))
            .unwrap_or_else(|| panic!("{label} in {:?}", e.outputs))
    };
    let n_width = by_name("count")
        .half_width
        .expect("counts have a fixed width");
    let sum_width = by_name("sum").half_width.expect("sums have a fixed width");
    let avg_times_n = by_name("avg")
        .half_width_times_values
        .expect("averages scale with 1/n");
    assert!(by_name("median").half_width.is_none());
    let rank_radius = by_name("median")
        .rank_radius
        .expect("percentiles have a rank radius");
    let spent = |ctx: &privagg_sql::Engine| {
        ctx.ledger()
            .spent(&privagg_budget::Scope::Analyst("alice".into()))
            .expect("spent")
            .epsilon
            .to_string()
    };
    assert_eq!(spent(&ctx), "0", "explain charges nothing");

    let release = ctx
        .query_with(
            "alice",
            QUERY,
            QueryConfig {
                confidence: 0.95,
                intervals: true,
            },
        )
        .await
        .expect("query");
    assert_eq!(spent(&ctx), "0.9");
    let b = &release.batches[0];
    // Counts and sums: the released interval is exactly value ± the predicted width.
    for (col, width) in [("n", n_width), ("total", sum_width)] {
        let (v, lo, hi) = (
            column(b, col),
            column(b, &format!("{col}_ci_low")),
            column(b, &format!("{col}_ci_high")),
        );
        for i in 0..b.num_rows() {
            assert!(
                (v[i] - lo[i] - width).abs() < 1e-6 * width.max(1.0)
                    && (hi[i] - v[i] - width).abs() < 1e-6 * width.max(1.0),
                "{col}: [{}, {}] around {} vs ±{width}",
                lo[i],
                hi[i],
                v[i]
            );
        }
    }
    // Percentiles: ε 0.225 to the exponential mechanism, 2/5 of it per
    // interval end, over people with up to 4 rows (k = 1): each end aims
    // r = b·(ln 100 + ln(2·4,096/0.05)) rows from the median's rank,
    // b = 2·½·k·L∞/ε_end, and explain shows 2r (docs/privacy/exponential_quantile.md).
    let b_end = 2.0 * 0.5 * 4.0 / (0.225 * 2.0 / 5.0);
    let r = b_end * (100f64.ln() + (2.0 * 4096.0 / 0.05f64).ln());
    assert!(
        (rank_radius / (2.0 * r) - 1.0).abs() < 1e-6,
        "{rank_radius} vs {}",
        2.0 * r
    );
    let (m, lo, hi) = (
        column(b, "median_age"),
        column(b, "median_age_ci_low"),
        column(b, "median_age_ci_high"),
    );
    for i in 0..b.num_rows() {
        assert!(
            0.0 <= lo[i] && lo[i] <= m[i] && m[i] <= hi[i] && hi[i] <= 100.0,
            "[{}, {}] around {}",
            lo[i],
            hi[i],
            m[i]
        );
    }
    // Averages: the released half-width is within the first-order prediction
    // for the group's (noisy) number of values, up to second-order terms.
    assert_within_prediction(b, "avg_age", avg_times_n, 0.3);
}

/// Each row's released half-width of `col` is at most 1.1× and at least
/// `floor`× the first-order prediction `times_n / n` (n: the row's count `n`).
fn assert_within_prediction(
    b: &datafusion::arrow::array::RecordBatch,
    col: &str,
    times_n: f64,
    floor: f64,
) {
    let (n, lo, hi) = (
        column(b, "n"),
        column(b, &format!("{col}_ci_low")),
        column(b, &format!("{col}_ci_high")),
    );
    for i in 0..b.num_rows() {
        let predicted = times_n / n[i];
        let released = (hi[i] - lo[i]) / 2.0;
        assert!(
            released <= predicted * 1.1 && released >= predicted * floor,
            "{col} half-width {released} vs predicted {predicted} at n = {}",
            n[i]
        );
    }
}

#[tokio::test]
async fn explain_bounds_the_variance_interval_to_first_order() {
    let ctx = context(PUMS).await;
    let sql = "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 2) \
        sex, COUNT(*) AS n, VAR_POP(age) AS v FROM pums GROUP BY sex";
    let e = ctx.explain(sql).await.expect("explain");
    let var_times_n = e
        .outputs
        .iter()
        .find(|o| o.aggregate.to_lowercase().starts_with("var"))
        .and_then(|o| o.half_width_times_values)
        .expect("variances scale with 1/n");
    let config = QueryConfig {
        confidence: 0.95,
        intervals: true,
    };
    let release = ctx.query_with("alice", sql, config).await.expect("query");
    // The prediction takes the worst case |mean − midpoint| = half the range,
    // so the released half-width sits below it (measured: about 0.3×).
    assert_within_prediction(&release.batches[0], "v", var_times_n, 0.15);
}

#[tokio::test]
async fn epsilon_shares_split_the_budget_exactly_in_proportion() {
    let ctx = context(PUMS).await;
    let sql = |strategy: &str| {
        format!(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1.0{strategy}) educ, \
             COUNT(DISTINCT pid, epsilon_share => 2) AS people, \
             SUM(income, contribution_bounds_per_group => (0, 1000), epsilon_share => 0.5) \
             AS income FROM pums GROUP BY educ"
        )
    };
    // By default selection thresholds the noisy COUNT(DISTINCT pid): no share of its own.
    let e = ctx.explain(&sql("")).await.expect("explain");
    let parts: Vec<&str> = e.split.iter().map(|s| s.epsilon.as_str()).collect();
    assert_eq!(parts, ["0.8", "0.2"]);
    assert_eq!(e.epsilon.to_string(), "1");
    let e = ctx
        .explain(&sql(", group_selection_strategy = 'TRUNCATED_GEOMETRIC'"))
        .await
        .expect("explain");
    let split: Vec<(String, String)> = e
        .split
        .iter()
        .map(|s| (s.part.clone(), s.epsilon.clone()))
        .collect();
    assert_eq!(
        split,
        [
            ("COUNT(DISTINCT pums.pid)".to_string(), "4/7".to_string()),
            ("SUM(pums.income, 0, 1000)".to_string(), "1/7".to_string()),
            ("partition selection".to_string(), "2/7".to_string()),
        ]
    );
    assert_eq!(
        e.epsilon.to_string(),
        "1",
        "the shares add up to the query's epsilon exactly"
    );
    // Even split without shares.
    let even = ctx
        .explain("SELECT sex, COUNT(*), AVG(age) FROM pums GROUP BY sex")
        .await
        .expect("explain");
    assert!(
        even.split.iter().all(|s| s.epsilon == "0.5"),
        "{:?}",
        even.split
    );
    // The release charges the same total and reports the same split.
    let release = ctx
        .query(
            "alice",
            &sql(", group_selection_strategy = 'TRUNCATED_GEOMETRIC'"),
        )
        .await
        .expect("query");
    assert_eq!(release.metadata.epsilon.to_string(), "1");
    let released: Vec<&str> = release
        .metadata
        .split
        .iter()
        .map(|s| s.epsilon.as_str())
        .collect();
    assert_eq!(released, ["4/7", "1/7", "2/7"]);
}

/// Without GROUP BY there is one group, so a unit contributes to at most
/// one: the noise does not grow with `max_groups_contributed` (it did: ±12
/// instead of ±3 with k = 4).
#[tokio::test]
async fn a_global_aggregate_is_noised_for_one_group_whatever_max_groups_says() {
    let ctx = context(PUMS).await;
    let width = |k: u32, grouped: bool| {
        let (keys, by) = if grouped {
            ("sex, ", " GROUP BY sex")
        } else {
            ("", "")
        };
        format!(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1.0, max_groups_contributed = {k}) \
             {keys}COUNT(*) AS n FROM pums{by}"
        )
    };
    let mut widths = Vec::new();
    for (k, grouped) in [(1, false), (4, false), (1, true), (4, true)] {
        let e = ctx.explain(&width(k, grouped)).await.expect("explain");
        let w = e.outputs[0].half_width.expect("a count has a fixed width");
        widths.push(w);
    }
    assert_eq!(widths[0], widths[1], "global: k does not matter {widths:?}");
    assert!(
        (widths[3] / widths[2] - 4.0).abs() < 1e-9,
        "grouped: the width scales with k {widths:?}"
    );
    assert_eq!(widths[0], widths[2], "one group = k of 1 {widths:?}");
}
