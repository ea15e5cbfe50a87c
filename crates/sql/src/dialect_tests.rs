use super::*;

fn query(text: &str) -> (String, Vec<(String, String)>) {
    match parse_request(text).expect("parses").remove(0) {
        Statement::Query { sql, options, .. } => (sql, options),
        other => panic!("not a query: {other:?}"),
    }
}

#[test]
fn strips_the_differential_privacy_clause() {
    let (sql, options) = query(
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1.0, delta = 1e-6, group_selection_strategy = PUBLIC_GROUPS) segment, COUNT(*) FROM customers GROUP BY segment",
    );
    assert_eq!(
        sql.split_whitespace().collect::<Vec<_>>().join(" "),
        "SELECT segment, COUNT(*) FROM customers GROUP BY segment"
    );
    assert_eq!(
        options,
        vec![
            ("epsilon".into(), "1.0".into()),
            ("delta".into(), "1e-6".into()),
            ("group_selection_strategy".into(), "PUBLIC_GROUPS".into())
        ]
    );
    let (_, options) = query("select with differential_privacy segment from t group by segment");
    assert!(options.is_empty());
}

#[test]
fn keywords_inside_literals_are_untouched() {
    let (sql, options) = query(
        "SELECT COUNT(*) FROM t WHERE note = 'SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 9)'",
    );
    assert!(options.is_empty());
    assert!(sql.contains("'SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 9)'"));
}

#[test]
fn set_statements_and_multiple_statements() {
    let stmts = parse_request("SET privagg.epsilon = 0.5; SET privagg.group_selection_strategy = 'LAPLACE_THRESHOLD'; SELECT COUNT(*) FROM t;").expect("parses");
    assert_eq!(stmts.len(), 3);
    assert_eq!(
        stmts[0],
        Statement::Set {
            name: "epsilon".into(),
            value: "0.5".into()
        }
    );
    assert_eq!(
        stmts[1],
        Statement::Set {
            name: "group_selection_strategy".into(),
            value: "LAPLACE_THRESHOLD".into()
        }
    );
    assert!(parse_request("SET datafusion.x = 1").is_err());
    assert!(parse_request("SET privagg.epsilon").is_err());
}

#[test]
fn malformed_requests() {
    for bad in [
        "",
        " ; ",
        "SELECT 'unterminated",
        "SELECT /* open",
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS epsilon = 1 x FROM t",
        "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon 1) x FROM t",
    ] {
        assert!(parse_request(bad).is_err(), "{bad}");
    }
}
