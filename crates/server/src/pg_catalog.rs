//! What psql's `\d`, drivers and BI tools ask about the database
//! (`pg_catalog`, `information_schema`, `current_schema()`), answered by a
//! DataFusion session of its own that holds **metadata only**: the catalog's
//! table and column names and types (public in privagg's model — the catalog
//! declares them) as small `pg_catalog` tables, and, under `public`, an
//! *empty* table with each catalog table's columns so DataFusion's own
//! `information_schema` lists them. No private data is registered here, so
//! nothing a catalog query does can read a row; row counts are unknown (-1).
//!
//! psql's and drivers' SQL is brought to DataFusion's dialect first:
//! `OPERATOR(pg_catalog.~)` is `~`, `COLLATE pg_catalog.default` goes,
//! `pg_catalog.f(` is `f(`, and casts to `regclass`/`regtype`/`oid` are
//! dropped.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::rows::pg_type;

/// Namespace oids, as PostgreSQL numbers them.
const PG_CATALOG: i64 = 11;
const PUBLIC: i64 = 2200;
/// The first table oid (PostgreSQL's first user oid).
const FIRST_TABLE: i64 = 16_384;

/// Whether `text` asks about the database rather than its data.
pub(crate) fn is_catalog_query(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("pg_catalog.")
        || lower.contains("information_schema.")
        || lower.contains("current_schema")
        || lower.contains("current_database")
        || [
            "pg_class",
            "pg_namespace",
            "pg_attribute",
            "pg_type",
            "pg_database",
            "pg_settings",
            "pg_roles",
            "pg_proc",
        ]
        .iter()
        .any(|t| lower.contains(t))
}

/// Scalar subqueries psql asks about things privagg never has (column
/// defaults, collations): NULL, which is their answer, and which DataFusion
/// plans where it cannot decorrelate them.
const ALWAYS_NULL: [&str; 2] = [
    "(SELECT pg_catalog.pg_get_expr(d.adbin",
    "(SELECT c.collname FROM pg_catalog.pg_collation",
];

/// `text` with each parenthesised subquery starting with `start` replaced by NULL.
fn null_subqueries(text: &str, start: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(start) {
        out.push_str(&rest[..i]);
        let mut depth = 0usize;
        let mut end = rest.len();
        for (j, c) in rest[i..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str("NULL");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// psql's and drivers' catalog SQL in DataFusion's dialect.
pub(crate) fn rewrite(text: &str) -> String {
    let text = ALWAYS_NULL
        .iter()
        .fold(text.to_string(), |t, start| null_subqueries(&t, start));
    let mut s = text
        .replace("OPERATOR(pg_catalog.~)", "~")
        .replace("OPERATOR(pg_catalog.!~)", "!~")
        .replace("COLLATE pg_catalog.default", "");
    for cast in [
        "::pg_catalog.regclass",
        "::pg_catalog.regtype",
        "::pg_catalog.regproc",
        "::pg_catalog.oid",
        "::regclass",
        "::regtype",
        "::regproc",
        "::oid",
    ] {
        s = s.replace(cast, "");
    }
    s = s.replace("::pg_catalog.", "::");
    // `pg_catalog.f(` → `f(`: DataFusion resolves functions by bare name.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("pg_catalog.") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "pg_catalog.".len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if after[name_len..].starts_with('(') {
            out.push_str(&after[..name_len]);
        } else {
            out.push_str("pg_catalog.");
            out.push_str(&after[..name_len]);
        }
        rest = &after[name_len..];
    }
    out.push_str(rest);
    out
}

fn strings(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn table(fields: Vec<Field>, columns: Vec<ArrayRef>) -> DfResult<Arc<MemTable>> {
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn flag(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

/// Catalogs of things privagg never has (policies, triggers, constraints,
/// indexes, inheritance, publications, extended statistics): a query whose
/// first FROM names one of them has no row, whatever else it says (psql's
/// `\d table` asks with PostgreSQL-only syntax such as `array(select …)`).
const NEVER_ANY: [&str; 10] = [
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_inherits",
    "pg_trigger",
    "pg_constraint",
    "pg_index",
    "pg_rewrite",
    "pg_partitioned_table",
];

/// `text` with everything inside parentheses blanked (same length), so
/// keywords found in it are the outermost query's.
fn outermost(text: &str) -> String {
    let mut depth = 0i32;
    text.chars()
        .map(|c| {
            let inside = depth > 0;
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if inside || c == '(' || c == ')' {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Whether every branch of the query inner- or cross-joins one of
/// [`NEVER_ANY`] in its outermost FROM: then it has no row.
fn reads_nothing(text: &str) -> bool {
    let top = outermost(text);
    top.split(" union ").all(|branch| {
        let Some(from) = branch.find("from ") else {
            return false;
        };
        let clause = &branch[from + 5..];
        let end = [" where ", " order by ", " group by ", " limit "]
            .iter()
            .filter_map(|k| clause.find(k))
            .min()
            .unwrap_or(clause.len());
        let clause = clause[..end].replace(" join ", ",").replace('\n', " ");
        let mut outer = false;
        clause.split(',').any(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            let table = words
                .first()
                .map(|w| w.trim_start_matches("pg_catalog."))
                .unwrap_or_default();
            let empty = !outer && NEVER_ANY.contains(&table);
            // The next item is an outer join's right side when this one ends with LEFT [OUTER].
            outer = matches!(words.last(), Some(&"left" | &"outer" | &"right" | &"full"));
            empty
        })
    })
}

/// A catalog query's rows. DDL, DML and other statements are refused: this
/// session must never register a table (`CREATE EXTERNAL TABLE` would read
/// any file the server can).
pub(crate) async fn run(ctx: &SessionContext, sql: &str) -> DfResult<Vec<RecordBatch>> {
    if reads_nothing(sql) {
        let schema = Arc::new(Schema::new(vec![text("?column?")]));
        return Ok(vec![RecordBatch::new_empty(schema)]);
    }
    plan(ctx, sql).await?.collect().await
}

/// The planned catalog query: DDL, DML and other statements refused, and a
/// query reading a catalog table's (empty) copy refused too — its answer
/// would say the table is empty.
async fn plan(ctx: &SessionContext, sql: &str) -> DfResult<datafusion::dataframe::DataFrame> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx.sql_with_options(&rewrite(sql), options).await?;
    let mut reads_a_table = false;
    df.logical_plan().apply(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.schema() == Some("public")
        {
            reads_a_table = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if reads_a_table {
        return Err(datafusion::error::DataFusionError::Plan(
            "it reads a table's rows: query tables with DP SQL, without pg_catalog or information_schema in the text".into(),
        ));
    }
    Ok(df)
}

/// A catalog query's columns, without running it.
pub(crate) async fn describe(ctx: &SessionContext, sql: &str) -> DfResult<SchemaRef> {
    if reads_nothing(sql) {
        return Ok(Arc::new(Schema::new(vec![text("?column?")])));
    }
    let df = plan(ctx, sql).await?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}

/// The metadata session for the engine's tables.
pub(crate) async fn session(tables: &[(String, bool, SchemaRef)]) -> DfResult<SessionContext> {
    // The default schema is pg_catalog (psql names `pg_class` bare too), so
    // a bare catalog table name does not resolve here at all.
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "pg_catalog");
    let ctx = SessionContext::new_with_config(config);
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema("public", Arc::new(MemorySchemaProvider::new()))?;
    }
    let pg = |name: &str| TableReference::partial("pg_catalog", name.to_string());
    for (name, _, schema) in tables {
        let empty = MemTable::try_new(Arc::clone(schema), vec![vec![]])?;
        ctx.register_table(
            TableReference::partial("public", name.clone()),
            Arc::new(empty),
        )?;
    }
    let n = tables.len();
    let oids: Vec<i64> = (0..n as i64).map(|i| FIRST_TABLE + i).collect();
    ctx.register_table(
        pg("pg_namespace"),
        table(
            vec![int("oid"), text("nspname"), int("nspowner")],
            vec![
                Arc::new(Int64Array::from(vec![PG_CATALOG, PUBLIC])),
                strings(vec!["pg_catalog".into(), "public".into()]),
                Arc::new(Int64Array::from(vec![10, 10])),
            ],
        )?,
    )?;
    let zeros = || Arc::new(Int64Array::from(vec![0; n])) as ArrayRef;
    let falses = || Arc::new(BooleanArray::from(vec![false; n])) as ArrayRef;
    ctx.register_table(
        pg("pg_class"),
        table(
            vec![
                int("oid"),
                text("relname"),
                int("relnamespace"),
                text("relkind"),
                int("relowner"),
                Field::new("reltuples", DataType::Float64, true),
                int("relchecks"),
                flag("relhasindex"),
                flag("relhasrules"),
                flag("relhastriggers"),
                flag("relrowsecurity"),
                flag("relforcerowsecurity"),
                flag("relispartition"),
                int("reltablespace"),
                int("reloftype"),
                text("relpersistence"),
                text("relreplident"),
                int("relam"),
                int("reltoastrelid"),
            ],
            vec![
                Arc::new(Int64Array::from(oids.clone())),
                strings(tables.iter().map(|t| t.0.clone()).collect()),
                Arc::new(Int64Array::from(vec![PUBLIC; n])),
                // A private table is a consent-filtered view inside the
                // engine, but a table to the analyst.
                strings(vec!["r".into(); n]),
                Arc::new(Int64Array::from(vec![10; n])),
                Arc::new(datafusion::arrow::array::Float64Array::from(vec![-1.0; n])),
                zeros(),
                falses(),
                falses(),
                falses(),
                falses(),
                falses(),
                falses(),
                zeros(),
                zeros(),
                strings(vec!["p".into(); n]),
                strings(vec!["d".into(); n]),
                zeros(),
                zeros(),
            ],
        )?,
    )?;
    let mut att = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (oid, (_, _, schema)) in oids.iter().zip(tables) {
        for (i, f) in schema.fields().iter().enumerate() {
            att.0.push(*oid);
            att.1.push(f.name().clone());
            att.2.push(i64::from(pg_type(f.data_type()).oid()));
            att.3.push(i16::try_from(i + 1).unwrap_or(i16::MAX));
            att.4.push(!f.is_nullable());
            att.5.push(pg_type(f.data_type()).name().to_string());
        }
    }
    let rows = att.0.len();
    ctx.register_table(
        pg("pg_attribute"),
        table(
            vec![
                int("attrelid"),
                text("attname"),
                int("atttypid"),
                Field::new("attnum", DataType::Int16, true),
                flag("attnotnull"),
                Field::new("atttypmod", DataType::Int32, true),
                flag("attisdropped"),
                flag("atthasdef"),
                int("attcollation"),
                text("attidentity"),
                text("attgenerated"),
            ],
            vec![
                Arc::new(Int64Array::from(att.0)),
                strings(att.1),
                Arc::new(Int64Array::from(att.2)),
                Arc::new(Int16Array::from(att.3)),
                Arc::new(BooleanArray::from(att.4)),
                Arc::new(Int32Array::from(vec![-1; rows])),
                Arc::new(BooleanArray::from(vec![false; rows])),
                Arc::new(BooleanArray::from(vec![false; rows])),
                Arc::new(Int64Array::from(vec![0; rows])),
                strings(vec![String::new(); rows]),
                strings(vec![String::new(); rows]),
            ],
        )?,
    )?;
    let types = [(16, "bool"), (20, "int8"), (25, "text"), (701, "float8")];
    ctx.register_table(
        pg("pg_type"),
        table(
            vec![
                int("oid"),
                text("typname"),
                int("typnamespace"),
                int("typcollation"),
            ],
            vec![
                Arc::new(Int64Array::from(
                    types.iter().map(|t| t.0).collect::<Vec<_>>(),
                )),
                strings(types.iter().map(|t| t.1.to_string()).collect()),
                Arc::new(Int64Array::from(vec![PG_CATALOG; types.len()])),
                Arc::new(Int64Array::from(vec![0; types.len()])),
            ],
        )?,
    )?;
    ctx.register_table(
        pg("pg_database"),
        table(
            vec![
                int("oid"),
                text("datname"),
                int("datdba"),
                int("encoding"),
                text("datcollate"),
                text("datctype"),
                text("daticulocale"),
                text("datlocprovider"),
                text("datacl"),
            ],
            vec![
                Arc::new(Int64Array::from(vec![1])),
                strings(vec!["privagg".into()]),
                Arc::new(Int64Array::from(vec![10])),
                Arc::new(Int64Array::from(vec![6])),
                strings(vec!["C.UTF-8".into()]),
                strings(vec!["C.UTF-8".into()]),
                Arc::new(StringArray::from(vec![None::<String>])),
                strings(vec!["c".into()]),
                Arc::new(StringArray::from(vec![None::<String>])),
            ],
        )?,
    )?;
    ctx.register_table(
        pg("pg_am"),
        table(
            vec![int("oid"), text("amname")],
            vec![
                Arc::new(Int64Array::from(vec![2])),
                strings(vec!["heap".into()]),
            ],
        )?,
    )?;
    for name in [
        "pg_attrdef",
        "pg_collation",
        "pg_index",
        "pg_inherits",
        "pg_constraint",
        "pg_trigger",
        "pg_policy",
        "pg_statistic_ext",
        "pg_publication",
        "pg_publication_rel",
        "pg_description",
    ] {
        // Nothing of these exists; a query joining them finds no row.
        let fields = vec![
            int("oid"),
            int("adrelid"),
            int("adnum"),
            text("adbin"),
            text("collname"),
            int("inhrelid"),
            int("inhparent"),
            int("indrelid"),
            int("conrelid"),
            int("tgrelid"),
            int("polrelid"),
            int("stxrelid"),
            int("objoid"),
            text("description"),
        ];
        let schema = Arc::new(Schema::new(fields));
        ctx.register_table(pg(name), Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    }
    for (name, value) in [
        ("pg_table_is_visible", ScalarValue::Boolean(Some(true))),
        ("pg_get_userbyid", ScalarValue::Utf8(Some("privagg".into()))),
        ("current_schema", ScalarValue::Utf8(Some("public".into()))),
        (
            "current_database",
            ScalarValue::Utf8(Some("privagg".into())),
        ),
        ("current_user", ScalarValue::Utf8(Some("privagg".into()))),
        ("obj_description", ScalarValue::Utf8(None)),
        ("col_description", ScalarValue::Utf8(None)),
        ("pg_get_expr", ScalarValue::Utf8(None)),
        ("has_table_privilege", ScalarValue::Boolean(Some(true))),
        ("has_schema_privilege", ScalarValue::Boolean(Some(true))),
        (
            "pg_encoding_to_char",
            ScalarValue::Utf8(Some("UTF8".into())),
        ),
        ("array_to_string", ScalarValue::Utf8(None)),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(Constant::new(name, value)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(FormatType::new()));
    Ok(ctx)
}

/// A function that answers one value whatever its arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: String,
    value: ScalarValue,
    signature: Signature,
}

impl Constant {
    fn new(name: &str, value: ScalarValue) -> Self {
        Self {
            name: name.to_string(),
            value,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.value.data_type())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `format_type(oid, typmod)`: the type's name.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatType {
    signature: Signature,
}

impl FormatType {
    fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FormatType {
    fn name(&self) -> &str {
        "format_type"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(oid) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
        };
        let oids = oid.to_array(args.number_rows)?;
        let oids = datafusion::arrow::compute::cast(&oids, &DataType::Int64)?;
        let oids = oids
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("oid type".into()))?;
        let names: StringArray = oids
            .iter()
            .map(|o| {
                o.map(|o| match o {
                    16 => "boolean",
                    20 => "bigint",
                    701 => "double precision",
                    _ => "text",
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_dialect_is_rewritten_for_datafusion() {
        let q = "WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default \
                 AND pg_catalog.pg_table_is_visible(c.oid) FROM pg_catalog.pg_class c";
        assert_eq!(
            rewrite(q),
            "WHERE c.relname ~ '^(t)$'  AND pg_table_is_visible(c.oid) FROM pg_catalog.pg_class c"
        );
        assert_eq!(
            rewrite("SELECT a, (SELECT c.collname FROM pg_catalog.pg_collation c WHERE (x)) AS y"),
            "SELECT a, NULL AS y"
        );
        assert!(reads_nothing(
            "SELECT array(select r from pg_catalog.pg_roles) FROM pg_catalog.pg_policy pol"
        ));
        assert!(reads_nothing(
            "SELECT c.oid FROM pg_catalog.pg_class c, pg_index i WHERE x"
        ));
        assert!(!reads_nothing(
            "SELECT c.oid FROM pg_class c LEFT JOIN pg_catalog.pg_index i ON (a)"
        ));
        assert!(!reads_nothing("SELECT c.oid FROM pg_class c"));
        assert!(is_catalog_query("select * from information_schema.tables"));
        assert!(!is_catalog_query("SELECT COUNT(*) FROM purchases"));
    }
}
