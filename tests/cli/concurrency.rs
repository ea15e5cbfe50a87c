//! 64 `privagg query` processes at once against one analyst budget.

use crate::common::{generated, privagg, spent_epsilon};

#[test]
fn concurrent_processes_never_overspend_one_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = generated(dir.path(), 500);
    // The generated analyst has epsilon 10: 64 attempts of 0.25 can afford exactly 40.
    let c = catalog.to_str().expect("utf-8").to_string();
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                (0..1)
                    .map(|_| {
                        let out = privagg()
                            .args([
                                "query",
                                "--catalog",
                                &c,
                                "--epsilon",
                                "0.25",
                                "--format",
                                "csv",
                                "SELECT segment, COUNT(*) AS n FROM purchases GROUP BY segment",
                            ])
                            .output()
                            .expect("run privagg");
                        (
                            out.status.code(),
                            String::from_utf8_lossy(&out.stderr).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(Option<i32>, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let ok = results.iter().filter(|(c, _)| *c == Some(0)).count();
    let refused = results.iter().filter(|(c, _)| *c == Some(4)).count();
    assert_eq!(
        ok + refused,
        64,
        "only success or budget exhausted: {results:?}"
    );
    assert_eq!(ok, 40, "exactly the affordable number succeeded");
    assert_eq!(spent_epsilon(&catalog, "alice"), "10");
}
