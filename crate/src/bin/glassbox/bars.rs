//! indicatif bars behind the library's `Progress` trait.

use glassbox::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// One bar, its prefix the current stage; without a terminal, a line per stage instead.
pub struct Bars {
    bar: ProgressBar,
    started: web_time::Instant,
}

impl Bars {
    pub fn new() -> Bars {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bars {
            bar,
            started: web_time::Instant::now(),
        }
    }

    /// Removes the bar from the terminal (the command's own lines stay).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64) {
        // indicatif draws nothing when stderr is not a terminal (CI, nohup, a pipe): a line per stage
        // keeps an hour-long run's log readable there.
        if self.bar.is_hidden() {
            eprintln!(
                "[{:>8.1} s] {name} ({total})",
                self.started.elapsed().as_secs_f64()
            );
        }
        self.bar.set_prefix(name.to_string());
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.reset_elapsed();
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}
