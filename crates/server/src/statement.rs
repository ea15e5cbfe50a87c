//! What a client's statement asks for, before the DP engine sees it: the
//! session statements every Postgres client sends on connect (`SET`, `SHOW`,
//! `SELECT version()`, transactions) are answered here; everything else goes
//! through the engine, which refuses what it does not allow.

/// The longest statement text accepted (1 MiB; a DP query is a few hundred
/// bytes, and the engine's parser would spend seconds on megabytes).
pub(crate) const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// The refusal of a statement over [`MAX_STATEMENT_BYTES`] (SQLSTATE 54000).
pub(crate) fn too_long(text: &str) -> Option<crate::sqlstate::Refusal> {
    (text.len() > MAX_STATEMENT_BYTES).then(|| {
        crate::sqlstate::refusal(
            "54000",
            format!(
                "statement too long: {} bytes, the limit is {MAX_STATEMENT_BYTES}; long value lists belong in a table",
                text.len()
            ),
        )
    })
}

/// A statement the server answers itself, or hands to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement {
    /// Nothing but whitespace and semicolons.
    Empty,
    /// `SET privagg.<name> = <value>` (or `TO`): a per-connection DP option.
    SetPrivagg {
        /// The option (`epsilon`, `delta`, …).
        name: String,
        /// Its value as written (quotes removed).
        value: String,
    },
    /// `SET <other> …` (client settings such as `extra_float_digits`): accepted, no effect.
    SetOther,
    /// `SHOW <name>`.
    Show(String),
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `START TRANSACTION`: accepted, no effect
    /// (every DP query is its own charged request).
    Transaction(&'static str),
    /// `SELECT version()` and the like: the server's version string.
    Version,
    /// `EXPLAIN <query>`: the cost preview (charges nothing).
    Explain(String),
    /// Anything else: a DP request (`SET privagg.x = v;` statements and one SELECT).
    Query(String),
}

/// The statement of `text`.
pub(crate) fn classify(text: &str) -> Statement {
    let trimmed = text.trim().trim_end_matches(';').trim();
    if trimmed.is_empty() || trimmed.chars().all(|c| c == ';' || c.is_whitespace()) {
        return Statement::Empty;
    }
    let lower = trimmed.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let single = !trimmed.contains(';');
    match words.as_slice() {
        ["set", rest @ ..] if single => set(trimmed, rest),
        ["show", name] if single => Statement::Show((*name).to_string()),
        ["begin", ..] | ["start", "transaction", ..] if single => Statement::Transaction("BEGIN"),
        ["commit", ..] | ["end", ..] if single => Statement::Transaction("COMMIT"),
        ["rollback", ..] | ["abort", ..] if single => Statement::Transaction("ROLLBACK"),
        ["select", "version()"] | ["select", "pg_catalog.version()"] => Statement::Version,
        ["explain", ..] => Statement::Explain(trimmed[7..].trim().to_string()),
        _ => Statement::Query(trimmed.to_string()),
    }
}

/// `SET [SESSION|LOCAL] name {=|TO} value`.
fn set(original: &str, rest: &[&str]) -> Statement {
    let first = rest
        .iter()
        .copied()
        .find(|w| *w != "session" && *w != "local");
    if !first.is_some_and(|w| w.starts_with("privagg.")) {
        return Statement::SetOther;
    }
    // From the option's name on, case kept: `name = value`, `name=value`, `name TO value`.
    let lower = original.to_ascii_lowercase();
    let start = lower.find("privagg.").map_or(0, |i| i + "privagg.".len());
    let tail = &original[start..];
    let name_end = tail
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(tail.len());
    let (name, after) = tail.split_at(name_end);
    let after = after.trim_start();
    let value = match after.strip_prefix('=') {
        Some(v) => v,
        None if after.len() >= 2 && after[..2].eq_ignore_ascii_case("to") => &after[2..],
        None => after,
    };
    Statement::SetPrivagg {
        name: name.to_ascii_lowercase(),
        value: value
            .trim()
            .trim_matches('\'')
            .trim_matches('"')
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_statements_are_answered_and_the_rest_goes_to_the_engine() {
        assert_eq!(classify(" ; "), Statement::Empty);
        assert_eq!(
            classify("SET privagg.epsilon = 0.25"),
            Statement::SetPrivagg {
                name: "epsilon".into(),
                value: "0.25".into()
            }
        );
        assert_eq!(
            classify("set session privagg.mechanism to 'Gaussian';"),
            Statement::SetPrivagg {
                name: "mechanism".into(),
                value: "Gaussian".into()
            }
        );
        assert_eq!(
            classify("SET privagg.max_groups_contributed=2"),
            Statement::SetPrivagg {
                name: "max_groups_contributed".into(),
                value: "2".into()
            }
        );
        assert_eq!(classify("SET extra_float_digits = 3"), Statement::SetOther);
        assert_eq!(
            classify("SHOW server_version"),
            Statement::Show("server_version".into())
        );
        assert_eq!(classify("BEGIN"), Statement::Transaction("BEGIN"));
        assert_eq!(classify("select version()"), Statement::Version);
        assert_eq!(
            classify("EXPLAIN SELECT COUNT(*) FROM t"),
            Statement::Explain("SELECT COUNT(*) FROM t".into())
        );
        // A SET and a SELECT in one request go to the engine together.
        assert_eq!(
            classify("SET privagg.epsilon = 1; SELECT COUNT(*) FROM t"),
            Statement::Query("SET privagg.epsilon = 1; SELECT COUNT(*) FROM t".into())
        );
        assert_eq!(
            classify("DELETE FROM t"),
            Statement::Query("DELETE FROM t".into())
        );
    }
}
