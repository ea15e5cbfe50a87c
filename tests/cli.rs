//! The `privagg` binary, tested as a process.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests may panic

use std::process::Command;

fn privagg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_privagg"))
}

#[test]
fn demo_prints_private_statistics_with_intervals_and_budget() {
    let out = privagg()
        .args(["demo", "--customers", "3000"])
        .output()
        .expect("run privagg");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "by loyalty tier",
        "bronze",
        "platinum",
        "95% interval",
        "Median basket",
        "epsilon = 1.000",
        "delta = 1e-6",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = privagg().arg("frobnicate").output().expect("run privagg");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}
