//! The cluster processes' log: Ballista's scheduler and executor report
//! through the `log` crate, which prints nothing until a logger is set.
//! `privagg scheduler` and `privagg executor` set this one: lines on
//! stderr, at the level named by `PRIVAGG_LOG` (`error`, `warn` — the
//! default —, `info`, `debug`, `trace`). These processes see the data
//! anyway; the client's log is not touched.

use std::io::Write;
use std::time::Instant;

use log::{LevelFilter, Log, Metadata, Record};

/// The environment variable naming the level.
pub const LEVEL_VARIABLE: &str = "PRIVAGG_LOG";

struct StderrLog {
    started: Instant,
}

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let seconds = self.started.elapsed().as_secs_f64();
            let _ = writeln!(
                std::io::stderr().lock(),
                "{seconds:10.3} {:5} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once per process; later calls change nothing).
pub fn init() {
    let level = std::env::var(LEVEL_VARIABLE)
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Warn);
    let logger = Box::new(StderrLog {
        started: Instant::now(),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
