//! A DP segment query against plain DataFusion on the same data: 10M purchase
//! rows of ~1M customers, 12 segments, 5 regions, in Parquet.
//!
//! `cargo bench --bench sql_vs_datafusion` prints the median of 5 runs of
//! each query and the ratios; results are in docs/performance.md. The data
//! is generated once into `target/bench-data/` (set `PRIVAGG_BENCH_ROWS` to
//! change the size, `PRIVAGG_BENCH_MEMORY_MB` to run privagg under a memory
//! limit; `PRIVAGG_BENCH_ONLY=scale` skips the stock plan and
//! MEDIAN, for large sizes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use privagg::budget::MemoryLedger;
use privagg::sql::{Catalog, Engine, Executor, LocalExecutor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEGMENTS: usize = 12;
const REGIONS: [&str; 5] = ["north", "south", "east", "west", "online"];

fn generate(path: &Path, rows: usize) -> std::io::Result<()> {
    let customers = (rows / 10).max(1) as u64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, false),
    ]));
    let file = std::fs::File::create(path)?;
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), None).map_err(std::io::Error::other)?;
    let mut rng = StdRng::seed_from_u64(1); // bench data, not noise
    let chunk = 1_000_000;
    let mut written = 0;
    while written < rows {
        let n = chunk.min(rows - written);
        let ids: Vec<i64> = (0..n)
            .map(|_| rng.random_range(0..customers) as i64)
            .collect();
        // A customer's segment and home region are functions of the id (skewed sizes).
        let segs: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "seg{:02}",
                    (id.unsigned_abs() * 2654435761 % 4096 + 1).ilog2() as usize % SEGMENTS
                )
            })
            .collect();
        let regions: Vec<&str> = ids
            .iter()
            .map(|id| REGIONS[(*id as usize) % REGIONS.len()])
            .collect();
        let spend: Vec<f64> = (0..n)
            .map(|_| (rng.random::<f64>() * 3.0).exp() * 10.0)
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(segs)),
            Arc::new(StringArray::from(regions)),
            Arc::new(Float64Array::from(spend)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(std::io::Error::other)?;
        writer.write(&batch).map_err(std::io::Error::other)?;
        written += n;
    }
    writer.close().map_err(std::io::Error::other)?;
    Ok(())
}

async fn time<F, Fut>(label: &str, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        if !f().await {
            println!("{label}: FAILED");
            return f64::NAN;
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[2];
    println!("{label:<58} {median:>8.3} s");
    median
}

/// The local engine without the fused bounding operator: every bounded
/// plan expanded into stock DataFusion operators (the plan before it).
#[derive(Debug)]
struct Stock(LocalExecutor);

#[async_trait::async_trait]
impl Executor for Stock {
    async fn execute(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> datafusion::error::Result<Vec<RecordBatch>> {
        self.0.execute(privagg::sql::fused::expand(plan)?).await
    }
}

async fn plain(ctx: &SessionContext, sql: &str) -> bool {
    match ctx.sql(sql).await {
        Ok(df) => df.collect().await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("PRIVAGG_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    let _ = std::fs::create_dir_all(&dir);
    let data = dir.join(format!("purchases-{rows}.parquet"));
    if !data.exists() {
        println!("generating {rows} rows into {}", data.display());
        let partial = data.with_extension("partial");
        if let Err(e) = generate(&partial, rows).and_then(|()| std::fs::rename(&partial, &data)) {
            println!("cannot generate data: {e}");
            return;
        }
    }
    let ctx = SessionContext::new();
    if let Err(e) = ctx
        .register_parquet(
            "customers",
            data.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
    {
        println!("cannot read {}: {e}", data.display());
        return;
    }
    let segments: Vec<String> = (0..SEGMENTS).map(|i| format!("\"seg{i:02}\"")).collect();
    let catalog_text = format!(
        "[ledger]\npath = \"unused.db\"\n[[analysts]]\nname = \"bench\"\nepsilon = 1000000.0\ndelta = 0.1\n\
         [[tables]]\nname = \"customers\"\npath = \"{}\"\nprivacy_unit = \"customer_id\"\nmax_groups_contributed = 1\nmax_rows_per_group = 5\n\
         [tables.columns.spend]\nlower = 0.0\nupper = 500.0\n[tables.columns.segment]\npublic_values = [{}]\n",
        data.display(),
        segments.join(", ")
    );
    // `PRIVAGG_BENCH_MEMORY_MB=N`: the private engine's memory pool (the
    // fused operator spills beyond it; the stock engine stays unlimited).
    let limited = match std::env::var("PRIVAGG_BENCH_MEMORY_MB") {
        Ok(mb) => format!("{catalog_text}[engine]\nmemory_limit_mb = {mb}\n"),
        Err(_) => catalog_text.clone(),
    };
    let private = match Catalog::parse(&limited, "bench.toml", dir.clone()) {
        Ok(catalog) => match Engine::with_ledger(catalog, Arc::new(MemoryLedger::new())).await {
            Ok(p) => p,
            Err(e) => return println!("{e}"),
        },
        Err(e) => return println!("{e}"),
    };
    let stock = match Catalog::parse(&catalog_text, "bench.toml", dir.clone()) {
        Ok(catalog) => match Engine::with_ledger(catalog, Arc::new(MemoryLedger::new())).await {
            Ok(p) => {
                let local = p.local_executor();
                p.with_executor(Arc::new(Stock(local)))
            }
            Err(e) => return println!("{e}"),
        },
        Err(e) => return println!("{e}"),
    };

    println!(
        "{rows} rows, ~{} customers, {SEGMENTS} segments (median of 5 runs)",
        rows / 10
    );
    // `PRIVAGG_BENCH_ONLY=dp`: only the DP query, for profiling.
    if std::env::var("PRIVAGG_BENCH_ONLY").as_deref() == Ok("dp") {
        let q = "SELECT segment, COUNT(*), SUM(spend), AVG(spend) FROM customers GROUP BY segment";
        for _ in 0..4 {
            time("privagg DP query (public segments)", || async {
                private.query("bench", q).await.is_ok()
            })
            .await;
        }
        return;
    }
    let q_plain =
        "SELECT segment, COUNT(*), SUM(spend), AVG(spend) FROM customers GROUP BY segment";
    let t_plain = time("plain DataFusion GROUP BY segment", || plain(&ctx, q_plain)).await;
    let q_pre = "SELECT SUM(c), SUM(s) FROM (SELECT customer_id, segment, COUNT(*) AS c, SUM(spend) AS s FROM customers GROUP BY customer_id, segment) t";
    let t_pre = time(
        "non-private per-(customer, segment) pre-aggregation",
        || plain(&ctx, q_pre),
    )
    .await;
    // Grouping by the privacy unit alone: the floor of any plan that bounds
    // contributions inside an aggregation by unit.
    let q_unit = "SELECT SUM(c), SUM(s) FROM (SELECT customer_id, COUNT(*) AS c, SUM(spend) AS s FROM customers GROUP BY customer_id) t";
    let t_unit = time("non-private per-customer aggregation", || {
        plain(&ctx, q_unit)
    })
    .await;
    let q_dp = "SELECT segment, COUNT(*), SUM(spend), AVG(spend) FROM customers GROUP BY segment";
    let t_dp = time("privagg DP query (public segments)", || async {
        private.query("bench", q_dp).await.is_ok()
    })
    .await;
    // `PRIVAGG_BENCH_ONLY=scale`: without the stock plan and MEDIAN.
    let full = std::env::var("PRIVAGG_BENCH_ONLY").as_deref() != Ok("scale");
    let q_median = "SELECT segment, MEDIAN(spend) FROM customers GROUP BY segment";
    let slow = if full {
        let t_stock = time(
            "privagg DP query, stock plan (no fused operator)",
            || async { stock.query("bench", q_dp).await.is_ok() },
        )
        .await;
        let t_median = time("privagg DP MEDIAN (public segments)", || async {
            private.query("bench", q_median).await.is_ok()
        })
        .await;
        Some((t_stock, t_median))
    } else {
        None
    };
    let q_dp_private = "SELECT region, COUNT(*), AVG(spend) FROM customers GROUP BY region";
    let t_dp_private = time(
        "privagg DP query (private keys, partition selection)",
        || async { private.query("bench", q_dp_private).await.is_ok() },
    )
    .await;
    println!(
        "per-customer / plain:   {:.2}x (pre-aggregation / plain: {:.2}x)",
        t_unit / t_plain,
        t_pre / t_plain
    );
    println!(
        "DP / plain:             {:.2}x (goal <= 6x)",
        t_dp / t_plain
    );
    println!(
        "DP / pre-aggregation:   {:.2}x (goal <= 1.0x)",
        t_dp / t_pre
    );
    println!("DP (private keys) / plain: {:.2}x", t_dp_private / t_plain);
    println!(
        "DP (private keys) / pre-aggregation: {:.2}x",
        t_dp_private / t_pre
    );
    let Some((t_stock, t_median)) = slow else {
        return;
    };
    println!(
        "DP MEDIAN / plain: {:.2}x, / pre-aggregation: {:.2}x",
        t_median / t_plain,
        t_median / t_pre
    );
    println!(
        "fused / stock DP query: {:.2}x (stock / plain {:.2}x, / pre-aggregation {:.2}x)",
        t_dp / t_stock,
        t_stock / t_plain,
        t_stock / t_pre
    );
}
