//! The fuzzer's datasets and their neighbours. The base dataset is built
//! from the US Census PUMS sample in `../shared/data` (real data nobody here
//! tuned); neighbours remove a unit, add an adversarial unit (extreme,
//! failing and NULL values, hundreds of rows, every group), change one unit's
//! rows into adversarial ones, or add a unit that never consented.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use privagg_budget::MemoryLedger;

use crate::catalog::{Catalog, ColumnConfig, TableConfig};
use crate::engine::Engine;
use crate::register::TableSource;

/// A row of private table `t`.
#[derive(Clone, Debug)]
pub(super) struct TRow {
    pub uid: i64,
    pub seg: Option<String>,
    pub grp: Option<i64>,
    pub x: Option<f64>,
    pub y: Option<i64>,
    pub s: Option<String>,
    pub consent: Option<bool>,
}

/// A row of private table `u`.
#[derive(Clone, Debug)]
pub(super) struct URow {
    pub uid: i64,
    pub z: Option<f64>,
    pub k: Option<i64>,
}

/// Both private tables.
#[derive(Clone, Debug, Default)]
pub(super) struct Dataset {
    pub t: Vec<TRow>,
    pub u: Vec<URow>,
}

fn shared(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first `rows` rows of PUMS_dup (t) and PUMS_pid (u).
pub(super) fn base(rows: usize) -> Dataset {
    let mut d = Dataset::default();
    for (i, line) in shared("PUMS_dup.csv")
        .lines()
        .skip(1)
        .take(rows)
        .enumerate()
    {
        // age,sex,educ,race,income,married,pid
        let f: Vec<&str> = line.split(',').collect();
        let num = |j: usize| f.get(j).and_then(|v| v.parse::<f64>().ok());
        let Some(uid) = num(6) else { continue };
        let seg = match (num(1), num(5)) {
            (Some(0.0), Some(m)) => {
                if m == 0.0 {
                    "a"
                } else {
                    "b"
                }
            }
            (Some(_), _) => "c",
            _ => "zzz",
        };
        d.t.push(TRow {
            uid: uid as i64,
            seg: Some(seg.to_string()),
            grp: num(3).map(|r| r as i64),
            x: num(0),
            y: num(2).map(|e| e as i64 - 8),
            s: f.get(4).map(|s| s.to_string()),
            consent: match i % 13 {
                0 => None,
                7 => Some(false),
                _ => Some(true),
            },
        });
    }
    for line in shared("PUMS_pid.csv").lines().skip(1).take(rows / 2) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |j: usize| f.get(j).and_then(|v| v.parse::<f64>().ok());
        let Some(uid) = num(6) else { continue };
        d.u.push(URow {
            uid: uid as i64,
            z: num(4).map(|i| i / 50_000.0),
            k: num(2).map(|e| e as i64),
        });
    }
    d
}

/// Rows of an adversarial unit: every group, extreme and failing values.
pub(super) fn adversary(uid: i64, consent: bool) -> Dataset {
    let xs = [
        Some(1e308),
        Some(-1e308),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        None,
        Some(0.0),
        Some(50.0),
    ];
    let ys = [Some(i64::MAX), Some(i64::MIN), Some(0), None, Some(7)];
    let ss = [
        "n/a",
        "99999999999999999999",
        "0",
        "",
        "-1",
        "1e400",
        "abc",
        "12",
    ];
    let segs = ["a", "b", "c", "zzz"];
    let t = (0..600)
        .map(|i: usize| TRow {
            uid,
            seg: (!i.is_multiple_of(11)).then(|| segs[i % segs.len()].to_string()),
            grp: (!i.is_multiple_of(17)).then_some((i % 60) as i64 - 5),
            x: xs[i % xs.len()],
            y: ys[i % ys.len()],
            s: (!i.is_multiple_of(19)).then(|| ss[i % ss.len()].to_string()),
            consent: if consent {
                Some(true)
            } else if i.is_multiple_of(2) {
                Some(false)
            } else {
                None
            },
        })
        .collect();
    let u = if consent {
        (0..50)
            .map(|i: usize| URow {
                uid,
                z: xs[i % xs.len()],
                k: ys[i % ys.len()],
            })
            .collect()
    } else {
        Vec::new()
    };
    Dataset { t, u }
}

impl Dataset {
    /// Without any row of `uid`.
    pub(super) fn without(&self, uid: i64) -> Dataset {
        Dataset {
            t: self.t.iter().filter(|r| r.uid != uid).cloned().collect(),
            u: self.u.iter().filter(|r| r.uid != uid).cloned().collect(),
        }
    }

    /// With `other`'s rows added.
    pub(super) fn with(&self, other: &Dataset) -> Dataset {
        let mut d = self.clone();
        d.t.extend(other.t.iter().cloned());
        d.u.extend(other.u.iter().cloned());
        d
    }

    fn t_batch(&self) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("uid", DataType::Int64, true),
            Field::new("seg", DataType::Utf8, true),
            Field::new("grp", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("consent", DataType::Boolean, true),
        ]));
        let t = &self.t;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter(t.iter().map(|r| Some(r.uid)))),
            Arc::new(StringArray::from_iter(t.iter().map(|r| r.seg.clone()))),
            Arc::new(Int64Array::from_iter(t.iter().map(|r| r.grp))),
            Arc::new(Float64Array::from_iter(t.iter().map(|r| r.x))),
            Arc::new(Int64Array::from_iter(t.iter().map(|r| r.y))),
            Arc::new(StringArray::from_iter(t.iter().map(|r| r.s.clone()))),
            Arc::new(BooleanArray::from_iter(t.iter().map(|r| r.consent))),
        ];
        RecordBatch::try_new(schema, columns).expect("t batch")
    }

    fn u_batch(&self) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("uid", DataType::Int64, true),
            Field::new("z", DataType::Float64, true),
            Field::new("k", DataType::Int64, true),
        ]));
        let u = &self.u;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter(u.iter().map(|r| Some(r.uid)))),
            Arc::new(Float64Array::from_iter(u.iter().map(|r| r.z))),
            Arc::new(Int64Array::from_iter(u.iter().map(|r| r.k))),
        ];
        RecordBatch::try_new(schema, columns).expect("u batch")
    }

    /// A context over this dataset (and the public table `p`).
    pub(super) async fn context(&self) -> Engine {
        let catalog = Catalog::parse(
            "[ledger]\npath = \"x.db\"\n[[analysts]]\nname = \"a\"\nepsilon = 100000000.0\ndelta = 0.5\n",
            "fuzz.toml",
            Default::default(),
        )
        .expect("catalog");
        let mut ctx = Engine::with_ledger(catalog, Arc::new(MemoryLedger::new()))
            .await
            .expect("context");
        let bounded = |lower, upper| ColumnConfig {
            lower: Some(lower),
            upper: Some(upper),
            public_values: None,
            data_type: None,
        };
        let mut t_columns = std::collections::BTreeMap::new();
        t_columns.insert("x".to_string(), bounded(0.0, 100.0));
        t_columns.insert("y".to_string(), bounded(-50.0, 50.0));
        t_columns.insert(
            "seg".to_string(),
            ColumnConfig {
                lower: None,
                upper: None,
                public_values: Some(vec!["a".into(), "b".into(), "c".into()]),
                data_type: None,
            },
        );
        let table = |name: &str, consent: Option<&str>, columns| TableConfig {
            name: name.into(),
            path: Default::default(),
            privacy_unit: "uid".into(),
            consent_column: consent.map(str::to_string),
            max_groups_contributed: 1,
            max_rows_per_group: 1,
            epsilon: None,
            rho: None,
            delta: None,
            columns,
        };
        ctx.register_private_table(
            table("t", Some("consent"), t_columns),
            TableSource::Batches(vec![self.t_batch()]),
        )
        .await
        .expect("t");
        let mut u_columns = std::collections::BTreeMap::new();
        u_columns.insert("z".to_string(), bounded(0.0, 10.0));
        ctx.register_private_table(
            table("u", None, u_columns),
            TableSource::Batches(vec![self.u_batch()]),
        )
        .await
        .expect("u");
        let p_schema = Arc::new(Schema::new(vec![
            Field::new("grp", DataType::Int64, true),
            Field::new("label", DataType::Utf8, true),
            Field::new("w", DataType::Int64, true),
        ]));
        // Duplicate keys: a public row can multiply a unit's rows.
        let grps: Vec<i64> = (0..12).map(|i| i % 6).collect();
        let p = RecordBatch::try_new(
            p_schema,
            vec![
                Arc::new(Int64Array::from(grps.clone())),
                Arc::new(StringArray::from_iter_values(
                    grps.iter().map(|g| format!("label{}", g % 3)),
                )),
                Arc::new(Int64Array::from_iter_values(grps.iter().map(|g| g * 3))),
            ],
        )
        .expect("p batch");
        ctx.register_public_table("p", TableSource::Batches(vec![p]))
            .await
            .expect("p");
        ctx
    }
}
