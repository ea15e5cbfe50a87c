//! Syntactic checks on the analyst's SQL, made on the parsed AST before any
//! planning, so rejections can name the construct exactly as written.

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as AstExpr, GroupByExpr, GroupByWithModifier, SelectItem, SetExpr, Statement, TableFactor,
};

use crate::error::{Result, SqlError, rejected};

/// Parses one statement and checks it; returns the statement DataFusion
/// plans (the SQL is parsed by sqlparser once, here).
///
/// # Errors
/// [`SqlError::InvalidSql`] for unparsable text, [`SqlError::Rejected`] for
/// unsupported constructs (naming them and what to do instead).
pub(crate) fn parse_checked(sql: &str) -> Result<DfStatement> {
    let mut statements =
        DFParser::parse_sql(sql).map_err(|e| SqlError::InvalidSql(clean(&e.to_string())))?;
    let Some(statement) = statements.pop_front() else {
        return Err(SqlError::InvalidSql("empty statement".into()));
    };
    if !statements.is_empty() {
        return Err(SqlError::InvalidSql(
            "one statement at a time: separate statements with ';'".into(),
        ));
    }
    let mut statement = statement;
    let DfStatement::Statement(inner) = &mut statement else {
        return Err(rejected("only SELECT queries are supported"));
    };
    crate::named_args::rewrite(inner)?;
    let Statement::Query(query) = inner.as_ref() else {
        return Err(rejected(
            "only SELECT queries are supported; privagg never modifies data",
        ));
    };
    check_set_expr(&query.body)?;
    Ok(statement)
}

fn check_set_expr(body: &SetExpr) -> Result<()> {
    match body {
        SetExpr::Select(select) => {
            if select.distinct.is_some() {
                return Err(rejected(
                    "SELECT DISTINCT is not supported: GROUP BY the columns to list their groups (with partition selection)",
                ));
            }
            for item in &select.projection {
                if matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_, _)
                ) {
                    return Err(rejected(
                        "SELECT * is not supported over private tables: select group keys and aggregates such as COUNT(*)",
                    ));
                }
            }
            for table in &select.from {
                for factor in
                    std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation))
                {
                    if let TableFactor::Derived { subquery, .. } = factor {
                        if subquery.order_by.is_some() {
                            return Err(rejected(
                                "ORDER BY on private rows before aggregation is not supported: order the released results instead",
                            ));
                        }
                        check_set_expr(&subquery.body)?;
                    }
                }
            }
            let (exprs, modifiers) = match &select.group_by {
                GroupByExpr::All(_) => {
                    return Err(rejected(
                        "GROUP BY ALL is not supported: list the group keys",
                    ));
                }
                GroupByExpr::Expressions(exprs, modifiers) => (exprs, modifiers),
            };
            if let Some(m) = modifiers.first() {
                let name = match m {
                    GroupByWithModifier::Rollup => "WITH ROLLUP",
                    GroupByWithModifier::Cube => "WITH CUBE",
                    GroupByWithModifier::Totals => "WITH TOTALS",
                    GroupByWithModifier::GroupingSets(_) => "GROUPING SETS",
                };
                return Err(rejected(format!(
                    "{name} is not supported: run one query per grouping"
                )));
            }
            for e in exprs {
                let name = match e {
                    AstExpr::Rollup(_) => Some("ROLLUP"),
                    AstExpr::Cube(_) => Some("CUBE"),
                    AstExpr::GroupingSets(_) => Some("GROUPING SETS"),
                    _ => None,
                };
                if let Some(name) = name {
                    return Err(rejected(format!(
                        "{name} is not supported: run one query per grouping"
                    )));
                }
            }
            Ok(())
        }
        SetExpr::Query(q) => check_set_expr(&q.body),
        SetExpr::SetOperation { op, .. } => Err(rejected(format!(
            "{op} is not supported: run each SELECT as its own query (each is charged separately)"
        ))),
        _ => Err(rejected("only SELECT queries are supported")),
    }
}

/// DataFusion error text without its internal prefixes.
pub(crate) fn clean(message: &str) -> String {
    let mut m = message.trim();
    for prefix in [
        "SQL error: ",
        "Error during planning: ",
        "Schema error: ",
        "ParserError(\"",
        "External error: ",
    ] {
        while let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.trim_end_matches("\")").to_string()
}
