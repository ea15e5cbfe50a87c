//! The fused operator's wire form, for a cluster's codecs: the logical node
//! (client → scheduler) and the operator (scheduler → executors). A buffer
//! starts with a tag protobuf never starts with (field number 0 is invalid),
//! so a codec can tell these from the encodings it delegates.

use std::sync::Arc;

use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use super::exec::{BoundByUnitExec, Exchange};
use super::{BoundByUnit, Names, Partial};

const NODE_TAG: &[u8] = b"\0privagg.BoundByUnit.v1\n";
const EXEC_TAG: &[u8] = b"\0privagg.BoundByUnitExec.v1\n";
/// The operator with the exchange in its process; the output partition
/// count follows on the next line.
const LOCAL_EXEC_TAG: &[u8] = b"\0privagg.BoundByUnitExec.local.v1\n";

/// The parameters both forms carry, one per line: salt, k, key count, the
/// rows and key-bytes column names, then `r <name>` (the row count),
/// `c <name>` (a count) or `s <name>` (a lattice sum) per partial.
fn write(salt: i64, k: usize, n_keys: usize, names: &Names, partials: &[Partial]) -> String {
    let mut text = format!(
        "{salt}\n{k}\n{n_keys}\n{}\n{}\n",
        names.rows, names.key_bytes
    );
    for p in partials {
        text.push_str(match (p.is_row_count, p.is_count) {
            (true, _) => "r ",
            (false, true) => "c ",
            (false, false) => "s ",
        });
        text.push_str(&p.name);
        text.push('\n');
    }
    text
}

type Parameters = (i64, usize, usize, Names, Vec<Partial>);

fn read(text: &[u8]) -> Result<Parameters> {
    let Ok(text) = std::str::from_utf8(text) else {
        return plan_err!("BoundByUnit: not UTF-8");
    };
    let mut lines = text.lines();
    let mut next = || lines.next().unwrap_or_default().to_string();
    let (salt, k, n_keys) = (next().parse(), next().parse(), next().parse());
    let (Ok(salt), Ok(k), Ok(n_keys)) = (salt, k, n_keys) else {
        return plan_err!("BoundByUnit: malformed parameters");
    };
    let names = Names {
        rows: next(),
        key_bytes: next(),
    };
    let mut partials = Vec::new();
    for line in lines {
        match line.split_once(' ') {
            Some((kind @ ("r" | "c" | "s"), name)) => partials.push(Partial {
                name: name.into(),
                is_count: kind != "s",
                is_row_count: kind == "r",
            }),
            _ => return plan_err!("BoundByUnit: malformed partial"),
        }
    }
    Ok((salt, k, n_keys, names, partials))
}

/// The node's encoding, if `node` is one.
pub fn encode_node(node: &dyn datafusion::logical_expr::UserDefinedLogicalNode) -> Option<Vec<u8>> {
    let b = node.as_any().downcast_ref::<BoundByUnit>()?;
    let names = Names {
        rows: b.rows.clone(),
        key_bytes: b.key_bytes.clone(),
    };
    let mut buf = NODE_TAG.to_vec();
    buf.extend(write(b.salt, b.k, b.n_keys, &names, &b.partials).into_bytes());
    Some(buf)
}

/// The node `buf` encodes over `input`; `None` when `buf` is not a node's.
///
/// # Errors
/// A malformed encoding or input.
pub fn decode_node(buf: &[u8], input: &LogicalPlan) -> Option<Result<BoundByUnit>> {
    let body = buf.strip_prefix(NODE_TAG)?;
    Some(read(body).and_then(|(salt, k, n_keys, names, partials)| {
        BoundByUnit::try_new(input.clone(), salt, k, n_keys, partials, &names)
    }))
}

/// The operator's encoding, if `plan` is one.
pub fn encode_exec(plan: &dyn ExecutionPlan) -> Option<Vec<u8>> {
    let e = plan.downcast_ref::<BoundByUnitExec>()?;
    let (salt, k, n_keys, names, partials, exchange) = e.parameters();
    let mut buf = match exchange {
        Exchange::Shuffled => EXEC_TAG.to_vec(),
        Exchange::Local(n) => [LOCAL_EXEC_TAG, format!("{n}\n").as_bytes()].concat(),
    };
    buf.extend(write(salt, k, n_keys, &names, partials).into_bytes());
    Some(buf)
}

/// The operator `buf` encodes over `input`; `None` when `buf` is not one.
///
/// # Errors
/// A malformed encoding or input.
pub fn decode_exec(
    buf: &[u8],
    input: &Arc<dyn ExecutionPlan>,
) -> Option<Result<Arc<dyn ExecutionPlan>>> {
    let (exchange, body) = match buf.strip_prefix(EXEC_TAG) {
        Some(body) => (Some(Exchange::Shuffled), body),
        None => {
            let body = buf.strip_prefix(LOCAL_EXEC_TAG)?;
            let (n, body) = body.split_at(body.iter().position(|&b| b == b'\n')? + 1);
            let n = std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.trim().parse().ok());
            (n.map(Exchange::Local), body)
        }
    };
    Some(read(body).and_then(|(salt, k, n_keys, names, partials)| {
        let Some(exchange) = exchange else {
            return plan_err!("BoundByUnitExec: malformed exchange");
        };
        let width = input.schema().fields().len();
        if width != 1 + n_keys + partials.len() {
            return plan_err!("BoundByUnitExec: bad input layout");
        }
        let schema = super::output_schema(&partials, &names);
        Ok(Arc::new(BoundByUnitExec::new(
            Arc::clone(input),
            salt,
            k,
            partials,
            schema,
            exchange,
        )) as Arc<dyn ExecutionPlan>)
    }))
}
