//! What a person at a terminal sees while a report runs and downloads; nothing at all
//! when stderr is not a terminal or with `--quiet`.
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
    shown: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let shown = !quiet && std::io::stderr().is_terminal();
        let bar = if shown {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Self { bar, shown }
    }

    pub fn shown(&self) -> bool {
        self.shown
    }

    /// A spinner with the report's status and the time since the run started.
    pub fn waiting(&self, id: &str, status: &str) {
        self.bar.set_prefix(id.to_owned());
        self.bar.set_message(status.to_owned());
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg:<9} {elapsed}")
                .expect("template"),
        );
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    /// A byte bar: downloaded, total, rate and ETA (from `Content-Length`), or a byte
    /// count and rate when the length is unknown.
    pub fn downloading(&self, name: &str, total: Option<u64>, done: u64) {
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
        } else {
            "{prefix} {bytes} {binary_bytes_per_sec}"
        };
        self.bar.disable_steady_tick();
        self.bar
            .set_style(ProgressStyle::with_template(template).expect("template"));
        self.bar.set_prefix(name.to_owned());
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(done);
        self.bar.reset_eta();
    }

    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    pub fn restart_at(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// A line above the bar (terminal only).
    pub fn note(&self, line: &str) {
        if self.shown {
            self.bar.println(line);
        }
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
