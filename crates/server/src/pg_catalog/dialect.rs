//! psql's and drivers' catalog SQL brought to DataFusion's dialect, and the
//! queries known to have no row (they ask about things privagg never has).

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

/// `text` with the bare SQL words `session_user` and `current_user` (which
/// DataFusion does not know) replaced by the analyst's name as a literal.
pub(crate) fn with_user(text: &str, analyst: &str) -> String {
    let literal = format!("'{}'", analyst.replace('\'', "''"));
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let word = ["session_user", "current_user"]
            .into_iter()
            .find(|w| lower[i..].starts_with(w));
        let before_ok = i == 0
            || !lower.as_bytes()[i - 1].is_ascii_alphanumeric() && lower.as_bytes()[i - 1] != b'_';
        if let (Some(w), true) = (word, before_ok) {
            let after = lower[i + w.len()..].chars().next();
            if !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(') {
                out.push_str(&literal);
                // An item of the SELECT list keeps PostgreSQL's column name.
                let next = lower[i + w.len()..].trim_start();
                let prev = lower[..i].trim_end();
                let item_end = next.is_empty()
                    || next.starts_with(',')
                    || next.starts_with(';')
                    || next.starts_with("from ");
                if item_end && (prev.ends_with(',') || prev.ends_with("select")) {
                    out.push_str(" AS ");
                    out.push_str(w);
                }
                i += w.len();
                continue;
            }
        }
        let c = text[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
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
pub(crate) fn reads_nothing(text: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_user_words_become_the_analyst() {
        assert_eq!(
            with_user(
                "SELECT current_schema(), session_user, CURRENT_USER AS u",
                "o'hara"
            ),
            "SELECT current_schema(), 'o''hara' AS session_user, 'o''hara' AS u"
        );
        assert_eq!(
            with_user("SELECT my_session_user", "a"),
            "SELECT my_session_user"
        );
    }

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
    }
}
