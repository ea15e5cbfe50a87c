//! The export's progress bar on stderr (indicatif: drawn only on a
//! terminal), with throughput and the time left.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of an export.
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` steps; hidden unless `enabled` (and stderr is a terminal).
    pub(crate) fn new(enabled: bool, total: usize) -> Self {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        if let Ok(style) =
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} ({per_sec}, {eta} left)")
        {
            bar.set_style(style.progress_chars("#>-"));
        }
        bar.set_message("planning and charging");
        Self { bar }
    }

    /// Shows `done` steps finished.
    pub(crate) fn set(&self, done: usize, stage: &str) {
        self.bar.set_position(done as u64);
        self.bar.set_message(stage.to_string());
    }

    /// Clears the line.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
