//! `privagg catalog add`: the data owner describes a data file in the
//! catalog, with explicit column types read from the file (so queries never
//! infer types from private rows).

use std::io::Write;
use std::path::Path;

use privagg_sql::Catalog;
use privagg_sql::catalog::type_name;

use super::CliError;

/// What to add.
#[derive(Debug)]
pub struct TableEntry<'a> {
    /// SQL name of the table.
    pub name: &'a str,
    /// The data file or directory, as it will be written in the catalog.
    pub path: &'a Path,
    /// The privacy-unit column.
    pub privacy_unit: &'a str,
    /// The consent column, if any.
    pub consent_column: Option<&'a str>,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The TOML text of a `[[tables]]` entry with one `type` per column.
pub fn table_entry(entry: &TableEntry<'_>, columns: &[(String, String)]) -> String {
    let mut text = String::from(
        "\n# Written by `privagg catalog add` from the file's data (the data owner's action).\n\
         # Add bounds (lower, upper) and public_values as public facts you choose.\n[[tables]]\n",
    );
    text.push_str(&format!("name = {}\n", quote(entry.name)));
    text.push_str(&format!(
        "path = {}\n",
        quote(&entry.path.to_string_lossy())
    ));
    text.push_str(&format!("privacy_unit = {}\n", quote(entry.privacy_unit)));
    if let Some(c) = entry.consent_column {
        text.push_str(&format!("consent_column = {}\n", quote(c)));
    }
    for (name, ty) in columns {
        text.push_str(&format!(
            "[tables.columns.{}]\ntype = {}\n",
            quote(name),
            quote(ty)
        ));
    }
    text
}

/// Appends a table entry to the catalog file, with the column types of the
/// data file; the catalog is validated with the entry before it is written
/// (atomically).
///
/// # Errors
/// Usage errors (table already declared, columns missing), catalog and I/O errors.
pub async fn run_catalog_add(
    catalog_path: &Path,
    entry: &TableEntry<'_>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let catalog = Catalog::load(catalog_path)?;
    if catalog.table(entry.name).is_some()
        || catalog
            .public_tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(entry.name))
    {
        return Err(CliError::Usage(format!(
            "table '{}' is already in {}",
            entry.name,
            catalog_path.display()
        )));
    }
    let data = catalog.resolve(entry.path);
    let columns = privagg_sql::infer::infer_columns(&data).await?;
    for (what, column) in [
        ("privacy unit", Some(entry.privacy_unit)),
        ("consent column", entry.consent_column),
    ] {
        if let Some(c) = column
            && !columns.iter().any(|(n, _)| n == c)
        {
            return Err(CliError::Usage(format!(
                "{what} '{c}' is not a column of {} (columns: {})",
                data.display(),
                columns
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let typed: Vec<(String, String)> = columns
        .iter()
        .map(|(n, t)| (n.clone(), type_name(t)))
        .collect();
    let mut text = std::fs::read_to_string(catalog_path)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&table_entry(entry, &typed));
    let base = catalog_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Catalog::parse(&text, &catalog_path.display().to_string(), base)?;
    privagg::export::write_atomically(catalog_path, text.as_bytes())?;
    writeln!(
        out,
        "added table '{}' ({} columns: {}) to {}",
        entry.name,
        typed.len(),
        typed
            .iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", "),
        catalog_path.display()
    )?;
    Ok(())
}
