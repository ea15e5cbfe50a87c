//! A seeded grammar of analyst queries for the neighbour fuzzer: sub-queries
//! in every clause (over public and private tables), joins (public, private
//! on the unit, and wrong ones), casts, failing arithmetic and functions,
//! CASE, IN lists, NULLs, HAVING / ORDER BY / LIMIT. The seed makes a failing
//! query reproducible; the noise of releases stays OS-seeded.
//!
//! Tables (see `fuzz_data`): private `t(uid, seg, grp, x, y, s, consent)`
//! with bounds on `x` [0, 100] and `y` [-50, 50] and public values for
//! `seg`; private `u(uid, z, k)` with bounds on `z` [0, 10]; public
//! `p(grp, label, w)` with duplicate `grp` keys.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One generated query and what the generator knows of it.
pub(super) struct Generated {
    /// The SQL text.
    pub sql: String,
    /// How many GROUP BY keys it has (they come first in the select list).
    pub keys: usize,
    /// Whether it has ORDER BY.
    pub ordered: bool,
    /// Whether it has HAVING (which keeps groups by their noisy values).
    pub having: bool,
}

/// A seeded query generator.
pub(super) struct Grammar {
    rng: StdRng,
    /// Whether `u` is joined in the current query.
    with_u: bool,
    /// Whether `p` is joined in the current query.
    with_p: bool,
}

impl Grammar {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            with_u: false,
            with_p: false,
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn column(&mut self) -> String {
        let mut cols = vec!["t.x", "t.y", "t.grp", "t.uid"];
        if self.with_u {
            cols.extend(["u.z", "u.k"]);
        }
        if self.with_p {
            cols.push("p.w");
        }
        self.pick(&cols).to_string()
    }

    fn literal(&mut self) -> String {
        self.pick(&[
            "0",
            "1",
            "-3",
            "2.5",
            "NULL",
            "9223372036854775807",
            "1e308",
            "CAST('NaN' AS DOUBLE)",
        ])
        .to_string()
    }

    /// A row-level numeric expression (possibly failing per row, possibly
    /// containing sub-queries the analysis must judge).
    fn value(&mut self, depth: u32) -> String {
        if depth == 0 {
            return if self.chance(0.75) {
                self.column()
            } else {
                self.literal()
            };
        }
        let a = self.value(depth - 1);
        let b = self.value(depth - 1);
        match self.rng.random_range(0..22) {
            0 => format!("({a} + {b})"),
            1 => format!("({a} - {b})"),
            2 => format!("({a} * {b})"),
            3 => format!("({a} / {b})"),
            4 => format!("({a} % {b})"),
            5 => "CAST(t.s AS INT)".to_string(),
            6 => "CAST(t.s AS DOUBLE)".to_string(),
            7 => format!("CAST({a} AS SMALLINT)"),
            8 => format!("CASE WHEN {} THEN {a} ELSE {b} END", self.predicate(0)),
            9 => format!("abs({a})"),
            10 => format!("sqrt({a})"),
            11 => format!("ln({a})"),
            12 => format!("power({a}, {b})"),
            13 => format!("COALESCE({a}, 0)"),
            14 => format!("NULLIF({a}, {b})"),
            15 => format!("({a} * 9223372036854775807)"),
            16 => "(SELECT MAX(w) FROM p)".to_string(),
            17 => "(SELECT MAX(x) FROM t)".to_string(),
            18 => "(SELECT COUNT(*) FROM u WHERE u.uid = t.uid)".to_string(),
            19 => "CAST(t.seg AS BIGINT)".to_string(),
            20 => format!("-{a}"),
            _ => format!("(CAST({a} AS DECIMAL(10, 2)) * 100000000)"),
        }
    }

    /// A row-level predicate.
    fn predicate(&mut self, depth: u32) -> String {
        let choice = self.rng.random_range(0..if depth == 0 { 13 } else { 16 });
        match choice {
            0 => format!("{} > {}", self.value(1), self.value(0)),
            1 => format!("{} = {}", self.value(1), self.literal()),
            2 => format!("{} IS NULL", self.value(1)),
            3 => format!("{} BETWEEN 0 AND 50", self.value(1)),
            4 => format!("{} IN (1, 2, 3, NULL)", self.value(0)),
            5 => "t.s LIKE '1%'".to_string(),
            6 => "t.seg IN ('a', 'b')".to_string(),
            7 => "t.grp IN (SELECT grp FROM p)".to_string(),
            8 => "t.uid IN (SELECT uid FROM u)".to_string(),
            9 => "EXISTS (SELECT 1 FROM p WHERE p.w > 2)".to_string(),
            10 => "to_timestamp(t.s) > now()".to_string(),
            11 => format!("{} / 0 > 1", self.value(0)),
            12 if depth == 0 => "t.x > (SELECT AVG(x) FROM t)".to_string(),
            12 => format!("NOT ({})", self.predicate(depth - 1)),
            13 => format!(
                "({} AND {})",
                self.predicate(depth - 1),
                self.predicate(depth - 1)
            ),
            14 => format!(
                "({} OR {})",
                self.predicate(depth - 1),
                self.predicate(depth - 1)
            ),
            _ => "random() < 0.5".to_string(),
        }
    }

    fn relations(&mut self) -> String {
        self.with_u = false;
        self.with_p = false;
        match self.rng.random_range(0..13) {
            0..=3 => "t".to_string(),
            4 => {
                self.with_p = true;
                "t JOIN p ON t.grp = p.grp".to_string()
            }
            5 => {
                self.with_p = true;
                "p RIGHT JOIN t ON p.grp = t.grp".to_string()
            }
            6 => {
                self.with_u = true;
                "t JOIN u ON t.uid = u.uid".to_string()
            }
            7 => {
                self.with_u = true;
                self.pick(&[
                    "t LEFT JOIN u ON u.uid = t.uid AND u.z > 1",
                    "u RIGHT JOIN t ON u.uid = t.uid",
                ])
                .to_string()
            }
            8 => {
                self.with_u = true;
                self.pick(&[
                    "t JOIN u ON t.grp = u.k",
                    "t JOIN u ON t.uid = t.uid",
                    "t JOIN (SELECT k AS uid, z, k FROM u) u ON t.uid = u.uid",
                    "t JOIN u ON CAST(t.uid AS VARCHAR) = CAST(u.uid AS VARCHAR)",
                    "t JOIN u ON t.uid = u.uid + 0",
                    "t, u",
                ])
                .to_string()
            }
            9 => {
                let pred = self.predicate(1);
                format!("(SELECT uid, seg, grp, x * 2 AS x, y, s, consent FROM t WHERE {pred}) t")
            }
            10 => {
                self.with_u = true;
                let pred = self.predicate(0);
                format!("t JOIN u ON t.uid = u.uid AND {pred}")
            }
            11 => {
                // Conditions that read every unit's rows (rejected).
                self.with_p = true;
                self.pick(&[
                    "t JOIN p ON t.grp = p.grp AND t.x > (SELECT AVG(x) FROM t)",
                    "t JOIN p ON t.grp = p.grp AND t.uid IN (SELECT uid FROM u WHERE z > 1)",
                    "t JOIN p ON t.grp = p.grp AND (SELECT COUNT(*) FROM t) > 300",
                ])
                .to_string()
            }
            _ => "(SELECT uid, seg, grp, x, y, s, consent, 0 AS fake FROM t) t".to_string(),
        }
    }

    fn key(&mut self) -> String {
        let mut keys = vec![
            "t.seg",
            "t.grp",
            "t.y % 3",
            "CASE WHEN t.x > 50 THEN 'hi' ELSE 'lo' END",
            "CAST(t.s AS INT)",
            "t.x / 0",
            "(SELECT MAX(w) FROM p)",
            "(SELECT MAX(x) FROM t)",
            "CASE WHEN (SELECT COUNT(*) FROM u) > 10 THEN 1 ELSE 0 END",
        ];
        if self.with_p {
            keys.push("p.label");
        }
        self.pick(&keys).to_string()
    }

    fn aggregate(&mut self) -> String {
        let mut aggs = vec![
            "COUNT(*)".to_string(),
            "COUNT(t.x)".to_string(),
            "COUNT(DISTINCT t.uid)".to_string(),
            "SUM(t.x)".to_string(),
            "AVG(t.y)".to_string(),
            "VAR_POP(t.x)".to_string(),
            "STDDEV(t.y)".to_string(),
            "MEDIAN(t.x)".to_string(),
            "PERCENTILE_CONT(t.y, 0.3)".to_string(),
            "COUNT(DISTINCT t.grp)".to_string(),
        ];
        let v = self.value(2);
        aggs.push(format!("SUM({v}, 0, 100)"));
        let v = self.value(2);
        aggs.push(format!("AVG({v}, -10, 10)"));
        let v = self.value(2);
        aggs.push(format!("SUM({v}, contribution_bounds_per_row => (-5, 20))"));
        aggs.push("PERCENTILE_CONT(t.x, 0.9, 0, 50)".to_string());
        if self.with_u {
            aggs.push("SUM(u.z)".to_string());
            aggs.push("COUNT(DISTINCT u.uid)".to_string());
        }
        let i = self.rng.random_range(0..aggs.len());
        aggs.swap_remove(i)
    }

    /// The next query.
    pub(super) fn query(&mut self) -> Generated {
        let mut from = self.relations();
        // The same relations written as a comma join (the unit equality in
        // WHERE) or read through a CTE.
        let comma = from == "t JOIN u ON t.uid = u.uid" && self.chance(0.5);
        if comma {
            from = "t, u".to_string();
        }
        let cte = from == "t" && self.chance(0.25);
        if cte {
            from = "c AS t".to_string();
        }
        let n_keys = self.rng.random_range(0..3);
        let keys: Vec<String> = (0..n_keys).map(|_| self.key()).collect();
        let n_aggs = self.rng.random_range(1..4);
        let aggs: Vec<String> = (0..n_aggs).map(|_| self.aggregate()).collect();
        let mut select: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        select.extend(aggs.iter().enumerate().map(|(i, a)| format!("{a} AS a{i}")));
        let options = format!(
            "SELECT WITH DIFFERENTIAL_PRIVACY OPTIONS (epsilon = 1, max_groups_contributed = {}, max_rows_contributed = {}) ",
            self.rng.random_range(1..4),
            self.rng.random_range(1..4)
        );
        let with = if cte {
            "WITH c AS (SELECT uid, seg, grp, x, y, s, consent FROM t) "
        } else {
            ""
        };
        let mut sql = format!("{with}{options}{} FROM {from}", select.join(", "));
        let mut conditions = Vec::new();
        if comma {
            conditions.push("t.uid = u.uid".to_string());
        }
        if self.chance(0.6) {
            conditions.push(format!("({})", self.predicate(2)));
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        if !keys.is_empty() {
            let names: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
            sql.push_str(&format!(" GROUP BY {}", names.join(", ")));
        }
        let having = self.chance(0.2);
        if having {
            sql.push_str(&format!(
                " HAVING {}",
                self.pick(&["a0 > 3", "a0 IS NOT NULL", "a0 > (SELECT MAX(x) FROM t)"])
            ));
        }
        let ordered = self.chance(0.25);
        if ordered {
            sql.push_str(self.pick(&[" ORDER BY a0 DESC", " ORDER BY 1"]));
        }
        if self.chance(0.2) {
            sql.push_str(" LIMIT 2");
        }
        Generated {
            sql,
            keys: keys.len(),
            ordered,
            having,
        }
    }
}
