//! DataFusion's planning errors as privagg's one-line messages: internal
//! prefixes and configuration advice removed, the common mistakes (a column's
//! case, a column in single quotes, an ORDER BY position, a literal of the
//! wrong type) said in the analyst's terms with the fix.
//!
//! Only the query text and the catalog's column names go into a message,
//! never a value read from data: these errors happen while planning.

/// How many column names an "unknown column" message lists at most.
const MAX_LISTED: usize = 12;

/// A planning error's text, one line, in privagg's words.
pub(crate) fn engine_message(raw: &str) -> String {
    let text = crate::syntax::clean(raw);
    let text = strip_internal(&text);
    if let Some(m) = unknown_column(&text) {
        return m;
    }
    if let Some(rest) = text
        .split("Order by column out of bounds, specified: ")
        .nth(1)
    {
        let mut parts = rest.split(", max: ");
        if let (Some(n), Some(max)) = (parts.next(), parts.next()) {
            let max = max.trim_end_matches('.').trim();
            return format!(
                "ORDER BY {n}: the SELECT list has {max} column(s); order by a position from 1 to {max} or by a name"
            );
        }
    }
    if let Some(rest) = text.split("Cannot cast string '").nth(1)
        && let Some((literal, tail)) = rest.split_once("' to value of ")
    {
        let ty = tail
            .split_whitespace()
            .next()
            .unwrap_or("the column's type");
        return format!(
            "'{literal}' cannot be read as {ty}: write a literal of the type it is compared with (see the column types in the catalog)"
        );
    }
    one_line(&text)
}

/// Removes DataFusion's wrappers and its advice to file a bug or change its
/// configuration, which do not apply to a privagg user.
fn strip_internal(text: &str) -> String {
    let mut out = text.to_string();
    for noise in [
        "Arrow error: ",
        "Cast error: ",
        "Internal error: ",
        "Execution error: ",
        "Optimizer rule ",
    ] {
        out = out.replace(noise, "");
    }
    for cut in [
        "This issue was likely caused by a bug",
        "This was likely caused by a bug",
        "Column names are case sensitive.",
    ] {
        if let Some(i) = out.find(cut) {
            let tail = &out[i..];
            // Drop the sentence(s) up to the next line.
            let end = tail.find('\n').map_or(out.len(), |j| i + j);
            out.replace_range(i..end, "");
        }
    }
    out
}

/// "No field named x. Did you mean 'T."X"'? … Valid fields are …" as one
/// line with the fix.
fn unknown_column(text: &str) -> Option<String> {
    let rest = text.split("No field named ").nth(1)?;
    let name = rest
        .split(['.', '\n'])
        .next()
        .unwrap_or(rest)
        .trim()
        .trim_matches('"');
    let name = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
    if let Some(suggestion) = rest
        .split("Did you mean '")
        .nth(1)
        .and_then(|r| r.split("'?").next())
    {
        let column = bare(suggestion);
        return Some(format!(
            "unknown column {name}: did you mean \"{column}\"? Column names are case-sensitive: write \"{column}\" in double quotes"
        ));
    }
    let mut valid: Vec<String> = rest
        .split("Valid fields are ")
        .nth(1)
        .map(|list| {
            list.trim_end_matches('.')
                .split(", ")
                .map(bare)
                .filter(|c| !c.starts_with("__privagg") && !is_call(c))
                .collect()
        })
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    valid.retain(|c| seen.insert(c.clone()));
    if valid.is_empty() {
        return Some(format!("unknown column {name}"));
    }
    let more = valid.len().saturating_sub(MAX_LISTED);
    valid.truncate(MAX_LISTED);
    let listed = valid
        .iter()
        .map(|c| quoted_if_needed(c))
        .collect::<Vec<_>>()
        .join(", ");
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "unknown column {name} (columns here: {listed}{more})"
    ))
}

/// Whether a field name is an expression's (`count(*)`), not a column's.
fn is_call(name: &str) -> bool {
    name.find('(').is_some_and(|i| {
        i > 0
            && name[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `t."Col"` → `Col`.
fn bare(qualified: &str) -> String {
    let q = qualified.trim();
    let last = match q.rfind("\".\"").or_else(|| q.rfind(".\"")) {
        Some(i) => &q[i + 1..],
        None => q.rsplit('.').next().unwrap_or(q),
    };
    last.trim_matches('"').to_string()
}

/// A column name as SQL needs it: double quotes unless lower-case and simple.
fn quoted_if_needed(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// DataFusion's multi-line text on one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A hint for a column written in single quotes (a string literal): each
/// single-quoted literal of `sql` that is a column name of `columns`.
pub(crate) fn quoting_hint(sql: &str, columns: &[String]) -> Option<String> {
    let mut hits = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('\'') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('\'') else {
            break;
        };
        let literal = &after[..end];
        if let Some(c) = columns.iter().find(|c| c.eq_ignore_ascii_case(literal))
            && !hits.contains(c)
        {
            hits.push(c.clone());
        }
        rest = &after[end + 1..];
    }
    let c = hits.first()?;
    Some(format!(
        "'{c}' in single quotes is a string, not the column: write \"{c}\" (double quotes)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_mistakes_name_the_column_and_the_fix() {
        let raw = "Schema error: No field named day. Did you mean 'visits.\"Day\"'?\nColumn names are case sensitive. You can use double quotes to refer to the visits.\"Day\" column or disable the datafusion.sql_parser.enable_ident_normalization configuration.\nValid fields are visits.\"VisitorId\", visits.\"Day\".";
        let m = engine_message(raw);
        assert_eq!(
            m,
            "unknown column day: did you mean \"Day\"? Column names are case-sensitive: write \"Day\" in double quotes"
        );
        assert!(!m.contains("enable_ident_normalization"));
    }

    #[test]
    fn unknown_columns_list_the_columns_once_without_internals() {
        let raw = "No field named nope.\nValid fields are visits.\"Day\", \"count(*)\", visits.\"VisitorId\", visits.\"Day\", visits.__privagg_unit, visits.age, visits.\"Time spent (minutes)\".";
        assert_eq!(
            engine_message(raw),
            "unknown column nope (columns here: \"Day\", \"VisitorId\", age, \"Time spent (minutes)\")"
        );
    }

    #[test]
    fn positions_casts_and_internal_errors_read_as_one_line() {
        assert_eq!(
            engine_message("Order by column out of bounds, specified: 5, max: 2"),
            "ORDER BY 5: the SELECT list has 2 column(s); order by a position from 1 to 2 or by a name"
        );
        assert_eq!(
            engine_message(
                "Arrow error: Cast error: Cannot cast string 'abc' to value of Int64 type"
            ),
            "'abc' cannot be read as Int64: write a literal of the type it is compared with (see the column types in the catalog)"
        );
        let m = engine_message(
            "Internal error: Physical input schema should be the same.\nThis issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues",
        );
        assert_eq!(m, "Physical input schema should be the same.");
    }

    #[test]
    fn single_quoted_column_names_get_a_hint() {
        let columns = vec!["Money spent (euros)".to_string(), "Day".to_string()];
        assert_eq!(
            quoting_hint("SELECT AVG('Money spent (euros)') FROM v", &columns).as_deref(),
            Some(
                "'Money spent (euros)' in single quotes is a string, not the column: write \"Money spent (euros)\" (double quotes)"
            )
        );
        assert_eq!(
            quoting_hint("SELECT 'x' FROM v WHERE a = 'y'", &columns),
            None
        );
    }
}
