//! The reliability fuzzer's SQL: valid seed queries over table `t` and
//! token-level mutations of them (see `reliability_fuzz.rs`).

use rand::Rng;
use rand::rngs::StdRng;

/// Valid queries the SQL mutations start from (all run on table `t`).
pub const SEEDS: &[&str] = &[
    "SELECT COUNT(*) FROM t",
    "SELECT sex, COUNT(*) AS n FROM t GROUP BY sex",
    "SELECT sex, AVG(age) AS a, SUM(income) AS s FROM t GROUP BY sex",
    "SELECT educ, COUNT(*) AS n FROM t WHERE age > 30 GROUP BY educ HAVING COUNT(*) > 5 ORDER BY n DESC LIMIT 3",
    "SELECT COUNT(DISTINCT pid) AS people FROM t",
    "SELECT sex, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY age) AS median FROM t GROUP BY sex",
    "SELECT sex, VARIANCE(income) AS v FROM t GROUP BY sex",
    "SELECT s, COUNT(*) AS n FROM (SELECT sex AS s, age FROM t WHERE age BETWEEN 20 AND 60) x GROUP BY s",
    "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 0.5, delta = 1e-6, max_groups_contributed = 1) sex, COUNT(*) AS n FROM t GROUP BY sex",
    "SELECT sex, SUM(income, contribution_bounds_per_group => (0, 100000)) AS s FROM t GROUP BY sex",
    "SELECT married, COUNT(*) AS n, AVG(income) AS avg_income FROM t WHERE race IN (1, 2) GROUP BY married",
    "SET privagg.epsilon = 0.3; SELECT sex, COUNT(*) FROM t GROUP BY sex",
    "SELECT CASE WHEN age < 30 THEN 'young' ELSE 'older' END AS band, COUNT(*) AS n FROM t GROUP BY CASE WHEN age < 30 THEN 'young' ELSE 'older' END",
    "SELECT sex, COUNT(*) * 2 + 1 AS x FROM t GROUP BY sex",
];

/// Tokens the SQL mutations insert or substitute.
const SQL_TOKENS: &[&str] = &[
    "'abc'",
    "'-inf'",
    "'NaN'",
    "1e-30",
    "1e308",
    "-1",
    "0",
    "NULL",
    "(",
    ")",
    ",",
    "OR",
    "AND",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "NOT",
    "CAST(age AS VARCHAR)",
    "CAST(income AS INT)",
    "age / 0",
    "income",
    "pid",
    "sex",
    "educ",
    "t",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "HAVING",
    "ORDER BY",
    "LIMIT",
    "UNION",
    "JOIN",
    "t t2",
    "ON",
    "=",
    "<",
    ">=",
    "IS NULL",
    "COUNT(*)",
    "SUM(age)",
    "AVG(income)",
    "MIN(age)",
    "MAX(age)",
    "DISTINCT",
    "*",
    ";",
    "OPTIONS (epsilon = -1)",
    "OPTIONS (epsilon = 0.0)",
    "OPTIONS (delta = 2)",
    "\"sex\"",
    "'sex'",
    "SEX",
    "PERCENTILE_CONT(2.0) WITHIN GROUP (ORDER BY age)",
    "LIMIT 0",
    "OFFSET 1",
    "LIMIT -1",
    "WITH x AS (SELECT * FROM t)",
    "x",
    "privagg_bounds(age, 0, 1)",
    "now()",
    "random()",
    "ARRAY[1,2]",
    "'\u{0}'",
    "ö",
    "9223372036854775808",
    "-9223372036854775808",
];

/// Splits SQL into rough tokens (words, quoted strings, punctuation).
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    out.push(std::mem::take(&mut current));
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
                quote = Some(c);
            }
            None if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            None if "(),;*+-/=<>".contains(c) => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

pub fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A seed query with one to three token edits (or an extreme one).
pub fn mutate_sql(rng: &mut StdRng) -> String {
    let seed = pick(rng, SEEDS);
    match rng.random_range(0..20) {
        // Long expressions and deep nesting.
        0 => {
            let n = rng.random_range(100..3000);
            let terms = vec!["age > 1"; n].join(" OR ");
            return format!("SELECT COUNT(*) FROM t WHERE {terms}");
        }
        1 => {
            let n = rng.random_range(50..400);
            return format!(
                "SELECT COUNT(*) FROM t WHERE {}age{} > 1",
                "(".repeat(n),
                ")".repeat(n)
            );
        }
        // A huge alias.
        2 => return format!("SELECT COUNT(*) AS {} FROM t", "a".repeat(70_000)),
        _ => {}
    }
    let mut t = tokens(seed);
    for _ in 0..rng.random_range(1..=3) {
        let at = rng.random_range(0..=t.len());
        match rng.random_range(0..4) {
            0 if at < t.len() => {
                t.remove(at);
            }
            1 if at < t.len() => t[at] = pick(rng, SQL_TOKENS).to_string(),
            2 if at < t.len() => {
                let copy = t[at].clone();
                t.insert(at, copy);
            }
            _ => t.insert(at, pick(rng, SQL_TOKENS).to_string()),
        }
    }
    t.join(" ")
}
