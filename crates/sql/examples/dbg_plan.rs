#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
use datafusion::prelude::*;
#[tokio::main]
async fn main() {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().set_bool("datafusion.sql_parser.enable_ident_normalization", false),
    );
    let df = ctx
        .read_csv("../shared/data/d1.csv", CsvReadOptions::new())
        .await
        .unwrap();
    ctx.register_table("users", df.into_view()).unwrap();
    let plan = ctx.state().create_logical_plan("SELECT Segment, COUNT(*) AS n, AVG(Usage) AS avg_usage FROM users GROUP BY Segment ORDER BY Segment").await.unwrap();
    println!("{}", plan.display_indent_schema());
}
