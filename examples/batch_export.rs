//! A batch export from Rust: generate data, write a job file, run it, and
//! read back the manifest that downstream systems consume.
//!
//! Run: `cargo run --example batch_export`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // examples assert what they print

use privagg::export;
use privagg::generate::generate;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let data = generate(2_000, dir.path())?;
    println!(
        "generated {} purchases into {}",
        data.rows,
        dir.path().display()
    );
    let job = dir.path().join("weekly.toml");
    std::fs::write(
        &job,
        r#"
analyst = "alice"
epsilon = 1.0
[[queries]]
name = "tier_baskets"
sql = "SELECT segment, COUNT(DISTINCT customer_id) AS customers, AVG(spend) AS avg_basket FROM purchases GROUP BY segment"
share = 0.6
format = "parquet"
[[queries]]
name = "channel_mix"
sql = "SELECT channel, COUNT(*) AS purchases FROM purchases GROUP BY channel"
share = 0.4
format = "json"
"#,
    )?;
    let out = dir.path().join("export");
    let summary = export::run(&job, &out, export::ExportOptions::default()).await?;
    let m = &summary.manifest;
    println!(
        "charged epsilon {} to {} in one request {}",
        m.epsilon, m.analyst, m.request_id
    );
    for (q, file) in m.queries.iter().zip(&summary.files) {
        let unreliable = q.release.accuracy.iter().filter(|c| c.too_noisy).count();
        println!(
            "  {:<14} epsilon {:<4} {} rows, {} unreliable value(s) → {}",
            q.name,
            q.release.epsilon,
            q.release.groups_released,
            unreliable,
            file.display()
        );
    }
    // What the example promises.
    assert_eq!(m.epsilon.to_string(), "1");
    assert_eq!(m.queries.len(), 2);
    assert_eq!(m.queries[0].release.groups_released, 4, "four public tiers");
    assert!(summary.files.iter().all(|f| f.is_file()));
    assert!(out.join("manifest.json").is_file() && out.join("REPORT.md").is_file());
    let report = std::fs::read_to_string(out.join("REPORT.md"))?;
    assert!(report.contains("differentially private at the level of one customer"));
    println!("report: {} lines", report.lines().count());
    Ok(())
}
