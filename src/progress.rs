//! The CLI's view of a running ingest: a progress bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use ingest::{Progress, Source};

/// A progress bar or plain log lines, depending on where stderr goes.
pub struct CliProgress {
    bar: Option<ProgressBar>,
    source: Source,
}

pub fn for_terminal(source: Source) -> Arc<CliProgress> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(source.name());
        bar
    });
    Arc::new(CliProgress { bar, source })
}

impl CliProgress {
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn begin(&self, total: u64) {
        match &self.bar {
            Some(bar) => bar.set_length(total),
            None => eprintln!("{}: {total} steps", self.source),
        }
    }

    fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(message.to_string());
                bar.inc(1);
            }
            None => eprintln!("{}: {message}", self.source),
        }
    }
}
