//! privagg's SQL dialect on top of DataFusion's: a request's statements, the
//! BigQuery-style `SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (...)` clause
//! (removed at the token level, its options returned) and `SET privagg.x = v`.
//! Per-aggregate arguments (`contribution_bounds_per_group => ...`,
//! `epsilon_share`, `mechanism`) are plain SQL named arguments, rewritten on
//! the parsed AST (`crate::named_args`).
//!
//! sqlparser's tokenizer (the one DataFusion parses with) finds the words,
//! so keywords inside string literals and comments are never touched.

use crate::error::{Result, SqlError};

/// One statement of a request, after dialect processing.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `SET privagg.<name> = <value>`.
    Set {
        /// Option name (without the `privagg.` prefix), lower case.
        name: String,
        /// Value text (quotes removed).
        value: String,
    },
    /// A query, rewritten to plain SQL, with the options of its
    /// `WITH DIFFERENTIAL_PRIVACY OPTIONS (...)` clause.
    Query {
        /// Plain SQL for DataFusion.
        sql: String,
        /// `(name, value)` pairs, names lower case, in order.
        options: Vec<(String, String)>,
        /// The text as the analyst wrote it.
        original: String,
    },
}

/// Splits a request into statements and processes each.
///
/// # Errors
/// [`SqlError::InvalidSql`] for an empty request, unterminated quotes or
/// parentheses, or malformed `SET` / `OPTIONS` syntax.
pub fn parse_request(text: &str) -> Result<Vec<Statement>> {
    let statements: Vec<String> = split_statements(text)?
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if statements.is_empty() {
        return Err(SqlError::InvalidSql(
            "the request is empty: write a SELECT statement".into(),
        ));
    }
    statements.iter().map(|s| parse_statement(s)).collect()
}

/// The most operators one statement may hold: planning recurses over the
/// expression tree, so an unbounded chain (`a OR b OR …` thousands long) could
/// exhaust the stack or take minutes; long lists belong in `IN (...)`.
pub const MAX_OPERATORS: usize = 250;
/// The deepest nesting of parentheses one statement may hold.
pub const MAX_NESTING: usize = 100;

/// Rejects statements beyond [`MAX_OPERATORS`] or [`MAX_NESTING`].
fn check_size(text: &str, tokens: &[Token]) -> Result<()> {
    const OPERATORS: [&str; 14] = [
        "+", "-", "*", "/", "%", "||", "=", "<", ">", "<=", ">=", "<>", "!=", "=>",
    ];
    let (mut operators, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    for t in tokens {
        if t.is_symbol(text, "(") {
            depth += 1;
            deepest = deepest.max(depth);
        } else if t.is_symbol(text, ")") {
            depth = depth.saturating_sub(1);
        } else if (t.kind == Kind::Symbol && OPERATORS.contains(&t.text(text)))
            || t.is_word("and")
            || t.is_word("or")
            || t.is_word("not")
        {
            operators += 1;
        }
    }
    if operators > MAX_OPERATORS {
        return Err(SqlError::Rejected(format!(
            "the query has {operators} operators; at most {MAX_OPERATORS} are accepted (write long OR chains as IN (...) lists)"
        )));
    }
    if deepest > MAX_NESTING {
        return Err(SqlError::Rejected(format!(
            "the query nests parentheses {deepest} deep; at most {MAX_NESTING} are accepted"
        )));
    }
    Ok(())
}

fn parse_statement(text: &str) -> Result<Statement> {
    let tokens = tokenize(text)?;
    check_size(text, &tokens)?;
    if tokens.first().is_some_and(|t| t.is_word("set")) {
        return parse_set(text, &tokens);
    }
    let (sql, options) = strip_dp_clause(text, &tokens)?;
    Ok(Statement::Query {
        sql,
        options,
        original: text.to_string(),
    })
}

fn parse_set(text: &str, tokens: &[Token]) -> Result<Statement> {
    let usage = || {
        SqlError::InvalidSql(format!(
            "expected `SET privagg.<option> = <value>`, got `{text}`"
        ))
    };
    let name = tokens
        .get(1)
        .filter(|t| t.kind == Kind::Word)
        .ok_or_else(usage)?;
    let name = name.text(text).to_lowercase();
    let Some(option) = name.strip_prefix("privagg.") else {
        return Err(SqlError::InvalidSql(format!(
            "only privagg options can be set (`SET privagg.epsilon = 1.0`), not `{name}`"
        )));
    };
    let eq = tokens
        .get(2)
        .filter(|t| t.is_symbol(text, "=") || t.is_word("to"))
        .ok_or_else(usage)?;
    let value = text[eq.end..].trim();
    if value.is_empty() {
        return Err(usage());
    }
    Ok(Statement::Set {
        name: option.to_string(),
        value: unquote(value),
    })
}

/// Removes `WITH DIFFERENTIAL_PRIVACY [OPTIONS (...)]` right after the first SELECT.
fn strip_dp_clause(text: &str, tokens: &[Token]) -> Result<(String, Vec<(String, String)>)> {
    // The outer query's SELECT: the first one outside parentheses (a `WITH t
    // AS (SELECT …)` before it holds the first SELECT of the text).
    let mut depth = 0usize;
    let outer = tokens.iter().position(|t| {
        if t.is_symbol(text, "(") {
            depth += 1;
        } else if t.is_symbol(text, ")") {
            depth = depth.saturating_sub(1);
        }
        depth == 0 && t.is_word("select")
    });
    let Some(select) = outer else {
        return Ok((text.to_string(), Vec::new()));
    };
    let (Some(with), Some(dp)) = (tokens.get(select + 1), tokens.get(select + 2)) else {
        return Ok((text.to_string(), Vec::new()));
    };
    if !(with.is_word("with") && dp.is_word("differential_privacy")) {
        return Ok((text.to_string(), Vec::new()));
    }
    let mut end = dp.end;
    let mut options = Vec::new();
    if tokens.get(select + 3).is_some_and(|t| t.is_word("options")) {
        let open = tokens
            .get(select + 4)
            .filter(|t| t.is_symbol(text, "("))
            .ok_or_else(|| {
                SqlError::InvalidSql(
                    "OPTIONS must be followed by a parenthesised list: OPTIONS (epsilon = 1.0)"
                        .into(),
                )
            })?;
        let close = matching_paren(text, tokens, select + 4)?;
        options = parse_options(&text[open.end..tokens[close].start])?;
        end = tokens[close].end;
    }
    let sql = format!("{} {}", &text[..with.start], &text[end..]);
    Ok((sql, options))
}

fn parse_options(inner: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in split_top_level(inner, ',')? {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').ok_or_else(|| {
            SqlError::InvalidSql(format!("option `{part}` must be written `name = value`"))
        })?;
        out.push((name.trim().to_lowercase(), unquote(value.trim())));
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].replace(&format!("{q}{q}"), &q.to_string());
        }
    }
    v.to_string()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Word,
    Symbol,
    Literal,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    lower: String,
}

impl Token {
    fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.lower == w
    }
    fn is_symbol(&self, src: &str, s: &str) -> bool {
        self.kind == Kind::Symbol && &src[self.start..self.end] == s
    }
    fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

/// Words (identifiers, keywords, dotted names, numbers), quoted literals and
/// symbols, with their byte ranges; comments and white space are skipped.
/// The tokens are sqlparser's (the same tokenizer DataFusion parses with),
/// with `a.b.c` (no space around the dots) merged into one word.
fn tokenize(src: &str) -> Result<Vec<Token>> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token as SqlToken, Tokenizer};
    let spans = Tokenizer::new(&GenericDialect {}, src)
        .tokenize_with_location()
        .map_err(|e| {
            let at = byte_offset(src, e.location.line, e.location.column);
            let character = src[..at].chars().count() + 1;
            if e.message.contains("Unterminated string") || e.message.contains("delimited") {
                SqlError::InvalidSql(format!(
                    "unterminated quote starting at character {character}"
                ))
            } else if e.message.contains("comment") {
                SqlError::InvalidSql("unterminated /* comment".into())
            } else {
                SqlError::InvalidSql(format!("{} at character {character}", e.message))
            }
        })?;
    let mut tokens: Vec<Token> = Vec::with_capacity(spans.len());
    for t in spans {
        let kind = match &t.token {
            SqlToken::Whitespace(_) | SqlToken::EOF => continue,
            SqlToken::Word(_) | SqlToken::Number(..) => Kind::Word,
            SqlToken::SingleQuotedString(_)
            | SqlToken::NationalStringLiteral(_)
            | SqlToken::EscapedStringLiteral(_)
            | SqlToken::HexStringLiteral(_) => Kind::Literal,
            _ => Kind::Symbol,
        };
        let start = byte_offset(src, t.span.start.line, t.span.start.column);
        let end = byte_offset(src, t.span.end.line, t.span.end.column);
        // `a.b` written without spaces is one (dotted) word, as in SQL names.
        if let Some(last) = tokens.last_mut()
            && last.end == start
            && (kind == Kind::Word && last.kind == Kind::Word && last.lower.ends_with('.')
                || kind == Kind::Symbol && &src[start..end] == "." && last.kind == Kind::Word)
        {
            last.end = end;
            last.lower = src[last.start..end].to_lowercase();
            continue;
        }
        tokens.push(Token {
            kind,
            start,
            end,
            lower: src[start..end].to_lowercase(),
        });
    }
    Ok(tokens)
}

/// The byte offset of a 1-based (line, column-in-characters) location.
fn byte_offset(src: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (n, text) in src.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
            return offset + text.char_indices().nth(skip).map_or(text.len(), |(i, _)| i);
        }
        offset += text.len();
    }
    src.len()
}

fn matching_paren(src: &str, tokens: &[Token], open: usize) -> Result<usize> {
    let mut depth = 0i32;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        if t.is_symbol(src, "(") {
            depth += 1;
        } else if t.is_symbol(src, ")") {
            depth -= 1;
            if depth == 0 {
                return Ok(j);
            }
        }
    }
    Err(SqlError::InvalidSql("unbalanced parentheses".into()))
}

/// Splits on `sep` at parenthesis depth 0, outside quotes.
fn split_top_level(src: &str, sep: char) -> Result<Vec<String>> {
    let tokens = tokenize(src)?;
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for t in &tokens {
        if t.is_symbol(src, "(") {
            depth += 1;
        } else if t.is_symbol(src, ")") {
            depth -= 1;
        } else if depth == 0 && t.kind == Kind::Symbol && t.lower == sep.to_string() {
            parts.push(src[start..t.start].to_string());
            start = t.end;
        }
    }
    parts.push(src[start..].to_string());
    Ok(parts)
}

fn split_statements(src: &str) -> Result<Vec<String>> {
    split_top_level(src, ';')
}

#[cfg(test)]
#[path = "dialect_tests.rs"]
mod tests;
