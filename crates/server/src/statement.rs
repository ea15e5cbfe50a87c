//! What a client's statement asks for, before the DP engine sees it: the
//! session statements every Postgres client sends on connect (`SET`, `SHOW`,
//! `SELECT version()`, transactions) are answered here; everything else goes
//! through the engine, which refuses what it does not allow.

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
    let rest: Vec<&str> = rest
        .iter()
        .copied()
        .skip_while(|w| *w == "session" || *w == "local")
        .collect();
    let Some(name) = rest.first() else {
        return Statement::SetOther;
    };
    let Some(option) = name.strip_prefix("privagg.") else {
        return Statement::SetOther;
    };
    // The value as written (case kept), after `=` or `TO`.
    let lower = original.to_ascii_lowercase();
    let after_name = lower.find(name).map_or(original.len(), |i| i + name.len());
    let tail = original[after_name..].trim_start();
    let tail = tail
        .strip_prefix('=')
        .or_else(|| {
            tail.get(..2)
                .filter(|t| t.eq_ignore_ascii_case("to"))
                .map(|_| &tail[2..])
        })
        .unwrap_or(tail)
        .trim();
    let value = tail.trim_matches('\'').trim_matches('"').to_string();
    let option = option
        .split('=')
        .next()
        .unwrap_or(option)
        .trim()
        .to_string();
    Statement::SetPrivagg {
        name: option,
        value,
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
