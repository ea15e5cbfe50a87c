//! The metadata session: small `pg_catalog` tables built from the engine's
//! table schemas, DataFusion's `information_schema` over empty copies of the
//! tables, and the catalog functions psql calls.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::{Result as DfResult, ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::functions::{Constant, FormatType};
use crate::rows::pg_type;

/// Namespace oids, as PostgreSQL numbers them.
const PG_CATALOG: i64 = 11;
const PUBLIC: i64 = 2200;
/// The first table oid (PostgreSQL's first user oid).
const FIRST_TABLE: i64 = 16_384;

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
                Arc::new(Float64Array::from(vec![-1.0; n])),
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
    let settings = [
        ("server_version", "15.0"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("max_identifier_length", "63"),
        ("TimeZone", "UTC"),
    ];
    ctx.register_table(
        pg("pg_settings"),
        table(
            vec![text("name"), text("setting")],
            vec![
                strings(settings.iter().map(|s| s.0.to_string()).collect()),
                strings(settings.iter().map(|s| s.1.to_string()).collect()),
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
