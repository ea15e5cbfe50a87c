//! privagg's errors as Postgres errors: the CLI's message text, with the
//! SQLSTATE a Postgres client expects for its class (`docs/server.md`).

use pgwire::error::ErrorInfo;
use privagg_budget::BudgetError;
use privagg_sql::SqlError;

/// The SQLSTATE of an error.
pub(crate) fn code(e: &SqlError) -> &'static str {
    match e {
        // Malformed SQL, unknown table or column.
        SqlError::InvalidSql(m) if m.starts_with("unknown column") => "42703",
        SqlError::InvalidSql(m) if m.contains("is not in the catalog") => "42P01",
        SqlError::InvalidSql(_) => "42601",
        // Not allowed by the DP analysis (or not supported): nothing charged.
        SqlError::Rejected(_) => "0A000",
        SqlError::UnknownAnalyst(_) => "28000",
        SqlError::Budget(BudgetError::BudgetExhausted { .. }) => "53400",
        SqlError::Budget(BudgetError::ReadOnly { .. }) => "25006",
        SqlError::Budget(_) => "58000",
        SqlError::Catalog { .. } => "58000",
        // Failed while reading data, after the charge.
        SqlError::Execution(_) => "XX000",
        // The cluster is down: connection_failure.
        SqlError::Unavailable(_) => "08006",
        _ => "XX000",
    }
}

/// The error as sent to the client.
pub(crate) fn error_info(e: &SqlError) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), code(e).to_string(), e.to_string())
}

/// An error on its way to the client, boxed (it is large).
pub(crate) type Refusal = Box<ErrorInfo>;

/// [`server_error`], boxed.
pub(crate) fn refusal(code: &str, message: String) -> Refusal {
    Box::new(server_error(code, message))
}

/// A server-side error of our own (a timeout, a limit).
pub(crate) fn server_error(code: &str, message: String) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), code.to_string(), message)
}

/// A FATAL ErrorResponse as raw protocol bytes, for a socket pgwire does
/// not own yet (too many connections) or any more (the idle timeout).
pub(crate) fn fatal_message(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'C', code), (b'M', message)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    let length = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&body);
    out
}
