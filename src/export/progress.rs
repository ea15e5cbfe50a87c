//! A one-line progress bar on stderr, drawn only when stderr is a terminal.

use std::io::Write;

/// Progress of an export.
pub(crate) struct Progress {
    enabled: bool,
    total: usize,
}

impl Progress {
    /// A bar of `total` steps; silent unless `enabled`.
    pub(crate) fn new(enabled: bool, total: usize) -> Self {
        let bar = Self { enabled, total };
        bar.draw(0, "planning and charging");
        bar
    }

    /// Shows `done` steps finished.
    pub(crate) fn set(&self, done: usize, stage: &str) {
        self.draw(done, stage);
    }

    /// Clears the line.
    pub(crate) fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }

    fn draw(&self, done: usize, stage: &str) {
        if !self.enabled || self.total == 0 {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * done.min(self.total) / self.total;
        eprint!(
            "\r\x1b[2K[{}{}] {done}/{} {stage}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.total
        );
        let _ = std::io::stderr().flush();
    }
}
