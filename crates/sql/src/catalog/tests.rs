use super::*;

const GOOD: &str = r#"
[ledger]
path = "ledger.db"
[defaults]
epsilon = 0.5
[[analysts]]
name = "alice"
epsilon = 10.0
delta = 1e-5
[[tables]]
name = "customers"
path = "data/customers.parquet"
privacy_unit = "customer_id"
consent_column = "consent"
max_groups_contributed = 2
epsilon = 20.0
delta = 1e-4
[tables.columns.spend]
lower = 0.0
upper = 500.0
[tables.columns.segment]
public_values = ["bronze", "silver", "gold"]
[[public_tables]]
name = "segments"
path = "data/segments.csv"
"#;

fn parse(text: &str) -> Result<Catalog> {
    Catalog::parse(text, "privagg.toml", PathBuf::from("/base"))
}

#[test]
fn the_design_example_parses() {
    let c = parse(GOOD).expect("valid");
    let t = c.table("CUSTOMERS").expect("case-insensitive lookup");
    assert_eq!((t.max_groups_contributed, t.max_rows_per_group), (2, 1));
    assert_eq!(t.columns["spend"].upper, Some(500.0));
    assert_eq!(c.ledger_path(), PathBuf::from("/base/ledger.db"));
    assert_eq!(c.analyst("alice").and_then(|a| a.epsilon), Some(10.0));
    assert_eq!(c.defaults.epsilon, Some(0.5));
}

#[test]
fn mistakes_name_file_table_and_key() {
    let cases = [
        (
            GOOD.replace("lower = 0.0", "lower = 600.0"),
            "catalog privagg.toml: table 'customers', key 'columns.spend': lower bound 600 is greater than upper bound 500",
        ),
        (
            GOOD.replace("upper = 500.0", ""),
            "table 'customers', key 'columns.spend': declare both lower and upper",
        ),
        (
            GOOD.replace("privacy_unit = \"customer_id\"", ""),
            "missing field `privacy_unit`",
        ),
        (
            GOOD.replace("max_groups_contributed = 2", "max_groups_contributed = 0"),
            "key 'max_groups_contributed': must be at least 1",
        ),
        (
            GOOD.replace("epsilon = 10.0", "epsilon = -1.0"),
            "key 'analysts.alice'",
        ),
        (
            GOOD.replace("delta = 1e-5", "delta = 1.5"),
            "delta must be below 1",
        ),
        (GOOD.replace("[ledger]", "[ledger"), "not a valid catalog"),
        (
            GOOD.replace("consent_column", "consent_colum"),
            "unknown field `consent_colum`",
        ),
        (
            GOOD.replace(
                "public_values = [\"bronze\", \"silver\", \"gold\"]",
                "public_values = []",
            ),
            "the list of public values is empty",
        ),
        (
            format!(
                "{GOOD}\n[[tables]]\nname = \"customers\"\npath = \"x.csv\"\nprivacy_unit = \"id\"\n"
            ),
            "the table is declared twice",
        ),
        (
            GOOD.replace("epsilon = 0.5", "epsilon = 0.0"),
            "key 'defaults.epsilon'",
        ),
    ];
    for (text, want) in cases {
        let err = parse(&text).expect_err("must be rejected").to_string();
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let err = Catalog::load("/no/such/privagg.toml")
        .expect_err("missing")
        .to_string();
    assert!(
        err.starts_with("catalog /no/such/privagg.toml: cannot read the catalog"),
        "{err}"
    );
}

#[test]
fn the_engine_section_selects_where_bounded_plans_run() {
    assert_eq!(parse(GOOD).expect("valid").engine.kind, EngineKind::Local);
    let cluster = format!(
        "{GOOD}\n[engine]\nkind = \"ballista\"\nscheduler = \"df://sched:50050\"\ntimeout_seconds = 600\n"
    );
    let c = parse(&cluster).expect("valid");
    assert_eq!(c.engine.kind, EngineKind::Ballista);
    assert_eq!(c.engine.scheduler.as_deref(), Some("df://sched:50050"));
    assert_eq!(c.engine.timeout_seconds, Some(600));
    let limited = format!("{GOOD}\n[engine]\nmemory_limit_mb = 512\n");
    assert_eq!(
        parse(&limited).expect("valid").engine.memory_limit_mb,
        Some(512)
    );
    for (bad, says) in [
        ("[engine]\nkind = \"ballista\"\n", "needs its scheduler"),
        (
            "[engine]\nscheduler = \"df://s:1\"\n",
            "for kind = \"ballista\"",
        ),
        ("[engine]\nkind = \"spark\"\n", "spark"),
        ("[engine]\nkind = \"local\"\nworkers = 3\n", "workers"),
        ("[engine]\nmemory_limit_mb = 0\n", "at least 1"),
        (
            "[engine]\nkind = \"ballista\"\nscheduler = \"df://s:1\"\nmemory_limit_mb = 64\n",
            "for the local engine",
        ),
    ] {
        let err = parse(&format!("{GOOD}\n{bad}")).expect_err(bad).to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
