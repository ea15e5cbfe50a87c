//! privagg's SQL dialect on top of DataFusion's: the BigQuery-style
//! `SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (...)` clause, `SET privagg.x = v`
//! session defaults, and per-aggregate contribution bounds
//! (`SUM(x, contribution_bounds_per_group => (0, 100))` or `SUM(x, 0, 100)`),
//! rewritten into plain SQL DataFusion can plan (`SUM(privagg_bounds(x, 0, 100))`).
//!
//! sqlparser's tokenizer (the one DataFusion parses with) finds the words,
//! so keywords inside string literals and comments are never touched.
//!
//! Over 400 lines until the parse-once rewrite (sqlparser AST and a visitor
//! instead of text rewriting, issue 11 item 2) replaces it.

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

/// Aggregates that accept explicit bounds, with how many ordinary arguments come first.
const BOUNDED_AGGREGATES: [(&str, usize); 8] = [
    ("sum", 1),
    ("avg", 1),
    ("var_pop", 1),
    ("variance", 1),
    ("stddev", 1),
    ("stddev_pop", 1),
    ("percentile_cont", 2),
    ("median", 1),
];

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

fn parse_statement(text: &str) -> Result<Statement> {
    let tokens = tokenize(text)?;
    if tokens.first().is_some_and(|t| t.is_word("set")) {
        return parse_set(text, &tokens);
    }
    let (sql, options) = strip_dp_clause(text, &tokens)?;
    let sql = rewrite_bounds(&sql)?;
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
    let Some(select) = tokens.iter().position(|t| t.is_word("select")) else {
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

/// Rewrites bounded aggregate calls into `AGG(privagg_bounds(x, lo, hi))`.
fn rewrite_bounds(sql: &str) -> Result<String> {
    let tokens = tokenize(sql)?;
    let mut out = String::new();
    let mut cursor = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let bounded = BOUNDED_AGGREGATES.iter().find(|(name, _)| t.is_word(name));
        let is_call = tokens.get(i + 1).is_some_and(|n| n.is_symbol(sql, "("));
        // VARIANCE and STDDEV are the population statistics in privagg.
        let rename = match t.lower.as_str() {
            "variance" => Some("var_pop"),
            "stddev" => Some("stddev_pop"),
            _ => None,
        };
        if let (Some(new_name), true) = (rename, is_call) {
            out.push_str(&sql[cursor..t.start]);
            out.push_str(new_name);
            cursor = t.end;
        }
        if (bounded.is_some() || t.is_word("count")) && is_call {
            let close = matching_paren(sql, &tokens, i + 1)?;
            let inner_start = tokens[i + 1].end;
            let inner = &sql[inner_start..tokens[close].start];
            let (rest, share, mechanism) = extract_share(inner)?;
            let bounded_inner = match bounded {
                Some((_, leading)) => bounded_arguments(&rest, *leading)?,
                None => None,
            };
            if bounded_inner.is_some() || share.is_some() || mechanism.is_some() {
                let mut new_inner = bounded_inner.unwrap_or(rest);
                if share.is_some() || mechanism.is_some() {
                    let weight = share.unwrap_or_else(|| "1".into());
                    new_inner = wrap_share(&new_inner, &weight, mechanism.as_deref())?;
                }
                out.push_str(&sql[cursor..inner_start]);
                out.push_str(&new_inner);
                cursor = tokens[close].start;
            }
            // Continue inside the call too (nested aggregates are rejected later).
        }
        i += 1;
    }
    out.push_str(&sql[cursor..]);
    Ok(out)
}

/// The other arguments, `w` and `m` of an aggregate with
/// `epsilon_share => w` and `mechanism => 'm'` removed.
type Named = (String, Option<String>, Option<String>);

/// Removes `epsilon_share => w` and `mechanism => 'm'` from an aggregate's
/// arguments.
fn extract_share(inner: &str) -> Result<Named> {
    let (mut share, mut mechanism) = (None, None);
    let mut rest = Vec::new();
    for arg in split_top_level(inner, ',')? {
        let named = arg
            .split_once("=>")
            .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()));
        let slot = match &named {
            Some((name, _)) if name == "epsilon_share" => &mut share,
            Some((name, _)) if name == "mechanism" => &mut mechanism,
            _ => {
                rest.push(arg);
                continue;
            }
        };
        if let Some((name, value)) = named {
            if slot.is_some() {
                return Err(SqlError::InvalidSql(format!(
                    "{name} is given twice in one aggregate"
                )));
            }
            *slot = Some(value);
        }
    }
    Ok((rest.join(","), share, mechanism))
}

/// Wraps an aggregate's value argument in `privagg_share(value, w[, 'm'])`
/// (`COUNT(*)` counts `privagg_share(1, w)`; `DISTINCT` stays outside).
fn wrap_share(inner: &str, weight: &str, mechanism: Option<&str>) -> Result<String> {
    let mut args = split_top_level(inner, ',')?;
    let Some(first) = args.first_mut() else {
        return Err(SqlError::InvalidSql(
            "epsilon_share needs an aggregate argument".into(),
        ));
    };
    let trimmed = first.trim().to_string();
    let (prefix, value) = match trimmed.get(..9) {
        Some(p) if p.eq_ignore_ascii_case("distinct ") => ("DISTINCT ", trimmed[9..].trim()),
        _ => ("", trimmed.as_str()),
    };
    let value = if value == "*" { "1" } else { value };
    *first = match mechanism {
        Some(m) => format!("{prefix}privagg_share({value}, {weight}, {m})"),
        None => format!("{prefix}privagg_share({value}, {weight})"),
    };
    Ok(args.join(","))
}

/// `x, contribution_bounds_per_group => (lo, hi)` or `x, lo, hi` (after the
/// leading arguments) becomes `privagg_bounds(x, lo, hi)`; `None` when the
/// call has no bounds.
fn bounded_arguments(inner: &str, leading: usize) -> Result<Option<String>> {
    let args: Vec<String> = split_top_level(inner, ',')?
        .into_iter()
        .map(|a| a.trim().to_string())
        .collect();
    let value = args.first().cloned().unwrap_or_default();
    let rest: Vec<&String> = args.iter().skip(leading).collect();
    let bounds = match rest.as_slice() {
        [] => return Ok(None),
        [named] if named.contains("=>") => {
            let (name, tuple) = named.split_once("=>").unwrap_or_default();
            let name = name.trim().to_lowercase();
            if name != "contribution_bounds_per_group" && name != "contribution_bounds_per_row" {
                return Err(SqlError::InvalidSql(format!(
                    "unknown named argument `{name}`: use contribution_bounds_per_group => (lower, upper)"
                )));
            }
            let tuple = tuple.trim();
            let inner = tuple
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .ok_or_else(|| {
                    SqlError::InvalidSql(format!("`{name}` takes a pair: {name} => (lower, upper)"))
                })?;
            let pair = split_top_level(inner, ',')?;
            match pair.as_slice() {
                [lo, hi] => (lo.trim().to_string(), hi.trim().to_string()),
                _ => {
                    return Err(SqlError::InvalidSql(format!(
                        "`{name}` takes exactly two bounds: (lower, upper)"
                    )));
                }
            }
        }
        [lo, hi] => (lo.to_string(), hi.to_string()),
        _ => return Ok(None), // wrong arity: DataFusion reports it
    };
    let middle: Vec<&String> = args.iter().skip(1).take(leading - 1).collect();
    let mut text = format!("privagg_bounds({value}, {}, {})", bounds.0, bounds.1);
    for m in middle {
        text.push_str(", ");
        text.push_str(m);
    }
    Ok(Some(text))
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
            return offset
                + text
                    .char_indices()
                    .nth(skip)
                    .map_or(text.len(), |(i, _)| i);
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
