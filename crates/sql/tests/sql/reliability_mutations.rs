//! The reliability fuzzer's inputs: the base table in three encodings and
//! the mutations of catalogs and data files (see `reliability_fuzz.rs`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::csv::reader::Format;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::parquet::arrow::ArrowWriter;
use rand::Rng;
use rand::rngs::StdRng;

use crate::common::shared_data;
use crate::reliability_sql::pick;

/// Values the catalog mutations substitute.
const CATALOG_TOKENS: &[&str] = &[
    "-1.0",
    "0",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "\"text\"",
    "[]",
    "[1, \"a\"]",
    "true",
    "{}",
    "\"\"",
    "\"../../etc/passwd\"",
    "\"/dev/null\"",
    "\"int64\"",
    "\"decimal(40, 2)\"",
    "\"nope\"",
    "1e-320",
    "[0, 0, 0]",
    "99999999999999999999",
];

/// Cell values the data mutations write.
const CELL_TOKENS: &[&str] = &[
    "NaN",
    "inf",
    "-inf",
    "",
    "abc",
    "1e400",
    "-0",
    "9223372036854775808",
    "\"",
    "\"\"",
    ",",
    "\n",
    "true",
    "null",
    "NULL",
    "1.5",
    "-5",
    "🙂",
];

/// The three encodings of the base table, written once per run.
pub struct Base {
    pub dir: tempfile::TempDir,
    pub csv: PathBuf,
    pub json: PathBuf,
    pub parquet: PathBuf,
}

pub fn catalog_text(file: &Path) -> String {
    format!(
        "[ledger]\npath = \"unused.db\"\n[[analysts]]\nname = \"alice\"\nepsilon = 1000000.0\ndelta = 0.1\n\
         [[tables]]\nname = \"t\"\npath = \"{}\"\nprivacy_unit = \"pid\"\nmax_groups_contributed = 2\nmax_rows_per_group = 4\n\
         [tables.columns.age]\nlower = 0.0\nupper = 100.0\n[tables.columns.income]\nlower = 0.0\nupper = 500000.0\n\
         [tables.columns.sex]\npublic_values = [0, 1]\n[tables.columns.pid]\ntype = \"int64\"\n\
         [tables.columns.educ]\ntype = \"int64\"\n[tables.columns.race]\ntype = \"int64\"\n[tables.columns.married]\ntype = \"int64\"\n",
        file.display()
    )
}

/// The first 400 rows of PUMS_dup.csv as CSV, NDJSON and Parquet.
pub fn base() -> Base {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = std::fs::read_to_string(shared_data().join("PUMS_dup.csv")).expect("pums");
    let text: String = source.lines().take(401).map(|l| format!("{l}\n")).collect();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, &text).expect("csv");
    let (schema, _) = Format::default()
        .with_header(true)
        .infer_schema(File::open(&csv).expect("csv"), None)
        .expect("schema");
    let schema = Arc::new(schema);
    let batches: Vec<_> = ReaderBuilder::new(schema.clone())
        .with_header(true)
        .build(File::open(&csv).expect("csv"))
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let json = dir.path().join("t.json");
    let mut writer = LineDelimitedWriter::new(File::create(&json).expect("json"));
    writer
        .write_batches(&batches.iter().collect::<Vec<_>>())
        .expect("ndjson");
    writer.finish().expect("ndjson");
    let parquet = dir.path().join("t.parquet");
    let mut writer =
        ArrowWriter::try_new(File::create(&parquet).expect("parquet"), schema, None).expect("w");
    for b in &batches {
        writer.write(b).expect("write");
    }
    writer.close().expect("close");
    Base {
        dir,
        csv,
        json,
        parquet,
    }
}

/// The base catalog with one or two line edits.
pub fn mutate_catalog(rng: &mut StdRng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..rng.random_range(1..=2) {
        let at = rng.random_range(0..lines.len());
        match rng.random_range(0..5) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            2 | 3 => {
                if let Some((key, _)) = lines[at].split_once(" = ") {
                    lines[at] = format!("{key} = {}", pick(rng, CATALOG_TOKENS));
                }
            }
            _ => {
                let key = pick(
                    rng,
                    &[
                        "lower",
                        "upper",
                        "epsilon",
                        "delta",
                        "max_groups_contributed",
                        "type",
                        "public_values",
                        "consent_column",
                        "bogus",
                    ],
                );
                lines.insert(at, format!("{key} = {}", pick(rng, CATALOG_TOKENS)));
            }
        }
        if lines.is_empty() {
            break;
        }
    }
    lines.join("\n")
}

/// A copy of one encoding of the base table with one damage; returns the
/// path to put in the catalog and what was done.
pub fn mutate_data(rng: &mut StdRng, base: &Base, case_dir: &Path) -> (PathBuf, String) {
    let (source, ext) = match rng.random_range(0..3) {
        0 => (&base.csv, "csv"),
        1 => (&base.json, "json"),
        _ => (&base.parquet, "parquet"),
    };
    let bytes = std::fs::read(source).expect("base file");
    let target = case_dir.join(format!("t.{ext}"));
    let choice = rng.random_range(0..9);
    let what = |how: &str| format!("{ext}: {how}");
    let damaged: Vec<u8> = match choice {
        // Truncated at a random byte.
        0 | 1 => bytes[..rng.random_range(0..bytes.len())].to_vec(),
        // Random bytes overwritten (for Parquet: often the footer).
        2 => {
            let mut b = bytes.clone();
            for _ in 0..rng.random_range(1..8) {
                let at = if ext == "parquet" && rng.random_bool(0.5) {
                    b.len() - rng.random_range(1..=12.min(b.len()))
                } else {
                    rng.random_range(0..b.len())
                };
                b[at] = rng.random();
            }
            b
        }
        // Empty file.
        3 => Vec::new(),
        // A cell (CSV/JSON) replaced by an odd value.
        4 | 5 if ext != "parquet" => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let row = rng.random_range(0..lines.len());
            let token = pick(rng, CELL_TOKENS);
            lines[row] = if ext == "csv" {
                let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
                let c = rng.random_range(0..cells.len());
                cells[c] = token.to_string();
                cells.join(",")
            } else {
                let key = pick(rng, &["age", "income", "pid", "sex", "educ"]);
                lines[row].replacen(
                    &format!("\"{key}\":"),
                    &format!("\"{key}\":\"{token}\",\"x\":"),
                    1,
                )
            };
            lines.join("\n").into_bytes()
        }
        // A huge or duplicated header (CSV), header only.
        6 if ext == "csv" => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body = text.split_once('\n').map_or("", |(_, b)| b);
            let header = if rng.random_bool(0.5) {
                format!("age,sex,educ,race,{},married,pid", "x".repeat(70_000))
            } else {
                "age,sex,educ,race,income,married,age".to_string()
            };
            format!("{header}\n{body}").into_bytes()
        }
        7 if ext == "csv" => b"age,sex,educ,race,income,married,pid\n".to_vec(),
        // A folder of two files (the second damaged or with other columns).
        8 => {
            let folder = case_dir.join("folder");
            std::fs::create_dir_all(&folder).expect("folder");
            std::fs::write(folder.join(format!("a.{ext}")), &bytes).expect("a");
            let second = if ext == "csv" && rng.random_bool(0.5) {
                b"pid,age\n1,2\n".to_vec()
            } else {
                bytes[..bytes.len() / 2].to_vec()
            };
            std::fs::write(folder.join(format!("b.{ext}")), second).expect("b");
            return (folder, what("a folder whose second file differs"));
        }
        _ => bytes.clone(),
    };
    std::fs::write(&target, &damaged).expect("damaged file");
    let how = match choice {
        0 | 1 => format!("truncated to {} of {} bytes", damaged.len(), bytes.len()),
        2 => "bytes overwritten".to_string(),
        3 => "empty".to_string(),
        4 | 5 if ext != "parquet" => "a cell replaced".to_string(),
        6 if ext == "csv" => "a huge or duplicated header".to_string(),
        7 if ext == "csv" => "header only".to_string(),
        _ => "unchanged".to_string(),
    };
    (target, what(&how))
}
