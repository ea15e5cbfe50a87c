//! Shared helpers for the SQL integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use privagg_budget::MemoryLedger;
use privagg_sql::{Catalog, Engine};

/// `../shared/data` of the repository (beside the clone in CI too).
#[allow(dead_code)]
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A context over catalog text whose paths are relative to the shared data.
#[allow(dead_code)]
pub async fn context(catalog: &str) -> Engine {
    let catalog = Catalog::parse(catalog, "test.toml", shared_data()).expect("catalog");
    Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("context")
}

/// Pretty text of batches.
#[allow(dead_code)]
pub fn show(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The catalog over d1.csv used by several tests.
#[allow(dead_code)]
pub const D1: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100.0
delta = 1e-3
[[tables]]
name = "users"
path = "d1.csv"
privacy_unit = "UserId"
max_groups_contributed = 1
[tables.columns.Usage]
lower = 0.0
upper = 100.0
[tables.columns.Segment]
public_values = ["A", "B", "C", "Z"]
"#;

/// PUMS with one row per person, bounds from the dataset's documentation.
#[allow(dead_code)]
pub const PUMS: &str = r#"
[ledger]
path = "unused.db"
[[analysts]]
name = "alice"
epsilon = 100.0
delta = 1e-3
[[tables]]
name = "pums"
path = "PUMS_dup.csv"
privacy_unit = "pid"
max_groups_contributed = 1
max_rows_per_group = 4
[tables.columns.age]
lower = 0.0
upper = 100.0
[tables.columns.income]
lower = 0.0
upper = 500000.0
[tables.columns.sex]
public_values = [0, 1]
"#;

/// One row of the test table `t`: unit id, segment, value.
pub type Row = (String, Option<String>, Option<f64>);

/// A context with one private table `t(id, seg, v, consent)` built from
/// in-memory rows, with `v` bounded to [lower, upper] and `seg` public if
/// `public` is given.
#[allow(dead_code)]
pub async fn table_context(
    rows: &[Row],
    bounds: (f64, f64),
    public: Option<Vec<&str>>,
    max_groups: u32,
) -> Engine {
    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let catalog = Catalog::parse(
        "[ledger]\npath = \"x.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 100000.0\ndelta = 0.5\n",
        "test.toml",
        shared_data(),
    )
    .expect("catalog");
    let mut ctx = Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
        .await
        .expect("context");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("seg", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| Some(r.0.clone())).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let mut columns_cfg = std::collections::BTreeMap::new();
    columns_cfg.insert(
        "v".to_string(),
        privagg_sql::ColumnConfig {
            lower: Some(bounds.0),
            upper: Some(bounds.1),
            public_values: None,
            data_type: None,
        },
    );
    if let Some(values) = public {
        columns_cfg.insert(
            "seg".to_string(),
            privagg_sql::ColumnConfig {
                lower: None,
                upper: None,
                public_values: Some(
                    values
                        .into_iter()
                        .map(|v| toml::Value::String(v.to_string()))
                        .collect(),
                ),
                data_type: None,
            },
        );
    }
    let table = privagg_sql::TableConfig {
        name: "t".into(),
        path: Default::default(),
        privacy_unit: "id".into(),
        consent_column: None,
        max_groups_contributed: max_groups,
        max_rows_per_group: 1,
        epsilon: None,
        rho: None,
        delta: None,
        columns: columns_cfg,
    };
    let source = if rows.is_empty() {
        privagg_sql::TableSource::Batches(vec![RecordBatch::new_empty(schema)])
    } else {
        privagg_sql::TableSource::Batches(vec![batch])
    };
    ctx.register_private_table(table, source)
        .await
        .expect("register");
    ctx
}

/// Column `name` of a release as f64 values, row by row.
#[allow(dead_code)]
pub fn column_f64(batches: &[RecordBatch], name: &str) -> Vec<Option<f64>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    let mut out = Vec::new();
    for b in batches {
        let Some(c) = b.column_by_name(name) else {
            continue;
        };
        let c =
            datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Float64)
                .expect("cast");
        let c = c.as_primitive::<Float64Type>();
        out.extend((0..c.len()).map(|i| (!c.is_null(i)).then(|| c.value(i))));
    }
    out
}

/// Column `name` of a release as strings.
#[allow(dead_code)]
pub fn column_str(batches: &[RecordBatch], name: &str) -> Vec<String> {
    use datafusion::arrow::util::display::array_value_to_string;
    batches
        .iter()
        .filter_map(|b| {
            b.column_by_name(name).map(|c| {
                (0..c.len())
                    .map(|i| array_value_to_string(c, i).unwrap_or_default())
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect()
}
