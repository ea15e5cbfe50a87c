//! Parameters of the extended query protocol (`$1`, `$2`, …) bound into the
//! statement text as SQL literals before the DP engine sees it, so a
//! prepared statement is analysed, charged and released exactly as the same
//! query written with the values inline: each execution is its own release.
//!
//! The placeholders are found by sqlparser's tokenizer (the one DataFusion
//! parses with), so a `$1` inside a string literal, a quoted identifier or a
//! comment is never touched. A value becomes a number literal only when its
//! type is numeric and it parses as a finite number, a boolean only when it
//! is one; everything else becomes a string literal with its quotes doubled
//! (DataFusion's generic dialect has no backslash escapes), so a value can
//! never end the literal it is in.

use bytes::Bytes;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldFormat;

use crate::sqlstate::{Refusal, refusal};

/// The most parameters one statement may have (PostgreSQL's limit).
const MAX_PARAMETERS: usize = 65_535;

/// The statement's tokens, or a syntax error.
fn tokens(text: &str) -> Result<Vec<Token>, Refusal> {
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| refusal("42601", format!("malformed SQL: {e}")))
}

/// The parameter a token is (`$3` → 3), if it is one.
fn index(token: &Token) -> Result<Option<usize>, Refusal> {
    let Token::Placeholder(p) = token else {
        return Ok(None);
    };
    match p.strip_prefix('$').map(str::parse::<usize>) {
        Some(Ok(n)) if (1..=MAX_PARAMETERS).contains(&n) => Ok(Some(n)),
        _ => Err(refusal(
            "42P02",
            format!("{p} is not a parameter: parameters are $1, $2, … (at most $65535)"),
        )),
    }
}

/// How many parameters the statement has (its highest `$n`).
pub(crate) fn count(text: &str) -> Result<usize, Refusal> {
    let mut highest = 0;
    for t in tokens(text)? {
        if let Some(n) = index(&t)? {
            highest = highest.max(n);
        }
    }
    Ok(highest)
}

/// The statement with every parameter replaced by `literal(n)`.
fn replace(
    text: &str,
    mut literal: impl FnMut(usize) -> Result<String, Refusal>,
) -> Result<String, Refusal> {
    let mut out = String::with_capacity(text.len());
    for t in tokens(text)? {
        match index(&t)? {
            Some(n) => out.push_str(&literal(n)?),
            None => out.push_str(&t.to_string()),
        }
    }
    Ok(out)
}

/// The statement with `NULL` for every parameter: what `Describe` of a
/// statement plans (its result columns do not depend on the values).
pub(crate) fn with_nulls(text: &str) -> Result<String, Refusal> {
    replace(text, |_| Ok("NULL".to_string()))
}

/// The format of item `i` (a short format list is a protocol error, not a panic).
pub(crate) fn format_of(format: &Format, i: usize) -> Result<FieldFormat, Refusal> {
    match format {
        Format::UnifiedText => Ok(FieldFormat::Text),
        Format::UnifiedBinary => Ok(FieldFormat::Binary),
        Format::Individual(codes) => codes.get(i).map(|c| FieldFormat::from(*c)).ok_or_else(|| {
            refusal(
                "08P01",
                format!("{} format codes for more values", codes.len()),
            )
        }),
    }
}

/// One bound parameter: its bytes, declared type (None or UNKNOWN when the
/// client left it to the server) and format.
pub(crate) struct Value<'a> {
    /// The bytes (None is SQL NULL).
    pub bytes: Option<&'a Bytes>,
    /// The type the client declared.
    pub ty: Option<&'a Type>,
    /// Text or binary.
    pub format: FieldFormat,
}

/// The statement with its parameters bound as literals.
pub(crate) fn bind(text: &str, values: &[Value<'_>]) -> Result<String, Refusal> {
    let needed = count(text)?;
    if needed != values.len() {
        return Err(refusal(
            "08P01",
            format!(
                "bind message supplies {} parameters, but the prepared statement requires {needed}",
                values.len()
            ),
        ));
    }
    replace(text, |n| literal(n, &values[n - 1]))
}

fn invalid(n: usize, ty: &Type, why: &str) -> Refusal {
    refusal("22P02", format!("parameter ${n} ({}): {why}", ty.name()))
}

/// A value as a SQL literal.
fn literal(n: usize, v: &Value<'_>) -> Result<String, Refusal> {
    let Some(bytes) = v.bytes else {
        return Ok("NULL".to_string());
    };
    let ty = v.ty.unwrap_or(&Type::UNKNOWN);
    let text = match v.format {
        FieldFormat::Text => std::str::from_utf8(bytes)
            .map_err(|_| invalid(n, ty, "not valid UTF-8"))?
            .to_string(),
        FieldFormat::Binary => from_binary(n, ty, bytes)?,
    };
    if text.contains('\0') {
        return Err(invalid(n, ty, "contains a NUL character"));
    }
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => {
            let x: i128 = text
                .trim()
                .parse()
                .map_err(|_| invalid(n, ty, "not an integer"))?;
            Ok(format!("({x})"))
        }
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => {
            let x: f64 = text
                .trim()
                .parse()
                .map_err(|_| invalid(n, ty, "not a number"))?;
            if !x.is_finite() {
                return Err(invalid(n, ty, "not a finite number"));
            }
            Ok(format!("({x:?})"))
        }
        Type::BOOL => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "on" | "yes" | "1" => Ok("TRUE".to_string()),
            "f" | "false" | "off" | "no" | "0" => Ok("FALSE".to_string()),
            _ => Err(invalid(n, ty, "not a boolean")),
        },
        Type::DATE => Ok(format!("DATE {}", quoted(&text))),
        Type::TIMESTAMP => Ok(format!("TIMESTAMP {}", quoted(&text))),
        _ => Ok(quoted(&text)),
    }
}

/// A string literal: quotes doubled.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A binary-format value as text, for the types drivers send in binary.
fn from_binary(n: usize, ty: &Type, b: &[u8]) -> Result<String, Refusal> {
    let wrong = || invalid(n, ty, &format!("{} bytes in binary format", b.len()));
    Ok(match *ty {
        Type::INT2 => i16::from_be_bytes(b.try_into().map_err(|_| wrong())?).to_string(),
        Type::INT4 => i32::from_be_bytes(b.try_into().map_err(|_| wrong())?).to_string(),
        Type::OID => u32::from_be_bytes(b.try_into().map_err(|_| wrong())?).to_string(),
        Type::INT8 => i64::from_be_bytes(b.try_into().map_err(|_| wrong())?).to_string(),
        Type::FLOAT4 => {
            format!(
                "{:?}",
                f32::from_be_bytes(b.try_into().map_err(|_| wrong())?)
            )
        }
        Type::FLOAT8 => {
            format!(
                "{:?}",
                f64::from_be_bytes(b.try_into().map_err(|_| wrong())?)
            )
        }
        Type::BOOL => match b {
            [0] => "false".to_string(),
            [_] => "true".to_string(),
            _ => return Err(wrong()),
        },
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            std::str::from_utf8(b)
                .map_err(|_| invalid(n, ty, "not valid UTF-8"))?
                .to_string()
        }
        _ => {
            return Err(refusal(
                "0A000",
                format!(
                    "parameter ${n}: binary format of type {} is not supported; send it as text",
                    ty.name()
                ),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(b: &'a Bytes, ty: &'a Type) -> Value<'a> {
        Value {
            bytes: Some(b),
            ty: Some(ty),
            format: FieldFormat::Text,
        }
    }

    #[test]
    fn placeholders_in_strings_comments_and_identifiers_are_not_parameters() {
        let sql = "SELECT COUNT(*) AS \"$9\" FROM t -- $8\nWHERE a = $1 AND b = '$7' AND c = $2";
        assert_eq!(count(sql).unwrap(), 2);
        let one = Bytes::from_static(b"5");
        let two = Bytes::from_static(b"x");
        let bound = bind(sql, &[text(&one, &Type::INT8), text(&two, &Type::UNKNOWN)]).unwrap();
        assert!(bound.contains("a = (5)"), "{bound}");
        assert!(bound.contains("c = 'x'"), "{bound}");
        assert!(bound.contains("'$7'") && bound.contains("\"$9\"") && bound.contains("-- $8"));
    }

    #[test]
    fn a_value_cannot_leave_its_literal() {
        let evil = Bytes::from_static(b"x' OR 1=1) UNION SELECT * FROM t --");
        let bound = bind(
            "SELECT COUNT(*) FROM t WHERE s = $1",
            &[text(&evil, &Type::TEXT)],
        )
        .unwrap();
        assert_eq!(
            bound,
            "SELECT COUNT(*) FROM t WHERE s = 'x'' OR 1=1) UNION SELECT * FROM t --'"
        );
        // A numeric type takes numbers only.
        let e = bind("SELECT $1", &[text(&evil, &Type::INT8)]).unwrap_err();
        assert_eq!(e.code, "22P02");
        let nan = Bytes::from_static(b"NaN");
        assert!(bind("SELECT $1", &[text(&nan, &Type::FLOAT8)]).is_err());
    }

    #[test]
    fn binary_values_and_counts_are_checked() {
        let eight = Bytes::copy_from_slice(&42i64.to_be_bytes());
        let v = Value {
            bytes: Some(&eight),
            ty: Some(&Type::INT8),
            format: FieldFormat::Binary,
        };
        assert_eq!(bind("SELECT $1", &[v]).unwrap(), "SELECT (42)");
        let short = Bytes::from_static(&[1, 2]);
        let v = Value {
            bytes: Some(&short),
            ty: Some(&Type::INT8),
            format: FieldFormat::Binary,
        };
        assert_eq!(bind("SELECT $1", &[v]).unwrap_err().code, "22P02");
        assert_eq!(bind("SELECT $2", &[]).unwrap_err().code, "08P01");
        assert_eq!(count("SELECT $0").unwrap_err().code, "42P02");
        assert_eq!(with_nulls("SELECT $1 + $2").unwrap(), "SELECT NULL + NULL");
        let short_list = Format::Individual(vec![1]);
        assert!(format_of(&short_list, 3).is_err());
    }
}
