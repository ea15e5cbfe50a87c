//! The shape the architecture promises (`docs/architecture.md`): no module
//! of `privagg-sql` imports another in a cycle, and no source file of the
//! workspace is over 400 lines without saying why at its top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    Some(first.trim_end_matches(".rs").to_string())
}

/// `crate::x` paths in code (comments and `#[cfg(test)]` tails excluded).
fn imports(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn no_module_of_the_sql_crate_imports_another_in_a_cycle() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let name = f.to_string_lossy();
        if name.contains("tests") || name.ends_with("lib.rs") {
            continue;
        }
        let Some(top) = top_module(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read");
        let edges = graph.entry(top.clone()).or_default();
        edges.extend(imports(&text).into_iter().filter(|m| *m != top));
    }
    assert!(graph.len() > 15, "found only {} modules", graph.len());
    for (a, edges) in &graph {
        for b in edges {
            // Does b reach a?
            let mut stack = vec![b.clone()];
            let mut seen = BTreeSet::new();
            while let Some(n) = stack.pop() {
                assert!(n != *a, "modules {a} and {b} import each other (a cycle)");
                if seen.insert(n.clone()) {
                    stack.extend(graph.get(&n).into_iter().flatten().cloned());
                }
            }
        }
    }
}

#[test]
fn no_source_file_is_over_400_lines_without_a_reason_at_its_top() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["src", "crates", "benches", "examples", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let head: String = text
            .lines()
            .take_while(|l| l.starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        if text.lines().count() > 400 && !head.contains("Over 400 lines") {
            long.push(f.display().to_string());
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    assert!(
        long.is_empty(),
        "over 400 lines with no reason given: {long:?}"
    );
}
