//! Segment statistics through the embedded API: register customer data held
//! in memory as a private table with its policy, ask SQL questions, read the
//! released values, their intervals and the budget left.
//!
//! Run: `cargo run --example segment_statistics`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // examples assert what they print

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use privagg::budget::MemoryLedger;
use privagg::sql::{
    Catalog, ColumnConfig, Engine, QueryConfig, SqlError, TableConfig, TableSource,
};

/// 6,000 customers in three tiers; customers with id divisible by 10 refused consent.
fn customers() -> RecordBatch {
    let n = 6000;
    let ids: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let tiers: Vec<&str> = (0..n)
        .map(|i| ["bronze", "silver", "gold"][i % 3])
        .collect();
    let spend: Vec<f64> = (0..n).map(|i| 20.0 + (i % 3) as f64 * 30.0).collect();
    let consent: Vec<bool> = (0..n).map(|i| i % 10 != 0).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("tier", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
        Field::new("consent", DataType::Boolean, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(tiers)),
        Arc::new(Float64Array::from(spend)),
        Arc::new(BooleanArray::from(consent)),
    ];
    RecordBatch::try_new(schema, columns).expect("a valid batch")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // An analyst with a total budget of epsilon 1; an in-memory ledger (a
    // catalog file with `[ledger] path = ...` gives the durable SQLite one).
    let catalog = Catalog::parse(
        "[ledger]\npath = \"unused.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 1.0\ndelta = 1e-6\n",
        "example.toml",
        std::env::temp_dir(),
    )?;
    let mut ctx = Engine::with_ledger(catalog, Arc::new(MemoryLedger::new())).await?;
    let mut columns = BTreeMap::new();
    columns.insert(
        "spend".to_string(),
        ColumnConfig {
            lower: Some(0.0),
            upper: Some(200.0),
            public_values: None,
            data_type: None,
        },
    );
    columns.insert(
        "tier".to_string(),
        ColumnConfig {
            lower: None,
            upper: None,
            public_values: Some(vec!["bronze".into(), "silver".into(), "gold".into()]),
            data_type: None,
        },
    );
    let policy = TableConfig {
        name: "customers".into(),
        path: Default::default(),
        privacy_unit: "customer_id".into(),
        consent_column: Some("consent".into()),
        max_groups_contributed: 1,
        max_rows_per_group: 1,
        epsilon: None,
        rho: None,
        delta: None,
        columns,
    };
    ctx.register_private_table(policy, TableSource::Batches(vec![customers()]))
        .await?;

    let config = QueryConfig {
        confidence: 0.95,
        intervals: true,
    };
    let release = ctx
        .query_with(
            "alice",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.6) \
             tier, COUNT(*) AS customers, AVG(spend) AS avg_spend FROM customers GROUP BY tier ORDER BY tier",
            config,
        )
        .await?;
    print!(
        "{}",
        privagg::export::text::release_table(&release.batches, &release.metadata.accuracy)
    );
    println!(
        "charged epsilon {}; {}",
        release.metadata.epsilon,
        release.metadata.remaining.join("; ")
    );

    // What the example promises: three public tiers, 1,800 consenting
    // customers each (±a few units of noise), an average near the truth, and
    // intervals that contain the released value.
    let batch = release.batches.first().expect("one batch");
    assert_eq!(batch.num_rows(), 3);
    let col = |name: &str| {
        let a = datafusion::arrow::compute::cast(
            batch.column_by_name(name).expect(name),
            &DataType::Float64,
        )
        .expect("numeric");
        a.as_primitive::<Float64Type>().values().to_vec()
    };
    let (n, lo, hi) = (
        col("customers"),
        col("customers_ci_low"),
        col("customers_ci_high"),
    );
    for i in 0..3 {
        assert!((n[i] - 1800.0).abs() < 60.0, "count {} far from 1800", n[i]);
        assert!(lo[i] <= n[i] && n[i] <= hi[i]);
    }
    let avg = col("avg_spend");
    // Tiers sorted: bronze (20), gold (80), silver (50).
    for (got, truth) in avg.iter().zip([20.0, 80.0, 50.0]) {
        assert!((got - truth).abs() < 15.0, "average {got} far from {truth}");
    }

    // The budget is enforced: 0.6 of 1.0 is spent, another 0.6 is refused.
    match ctx
        .query(
            "alice",
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.6) COUNT(*) FROM customers",
        )
        .await
    {
        Err(SqlError::Budget(e)) => println!("refused as expected: {e}"),
        other => panic!("expected a budget refusal, got {other:?}"),
    }
    Ok(())
}
