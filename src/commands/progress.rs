//! Progress reporting: a bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress display for `total` steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    label: &'static str,
}

impl Progress {
    pub fn new(label: &'static str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed}").expect("valid template");
            bar.set_style(style.progress_chars("=> "));
            bar.set_message(label);
            bar
        });
        Progress {
            bar,
            total,
            done: 0,
            label,
        }
    }

    /// Advances by one step; without a terminal, prints a line every 10 %.
    pub fn step(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let tenth = (self.total / 10).max(1);
                if self.done % tenth == 0 || self.done == self.total {
                    eprintln!("{}: {}/{}", self.label, self.done, self.total);
                }
            }
        }
    }

    /// Prints a line without breaking the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
