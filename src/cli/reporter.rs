//! Progress display: a spinner on stderr that appears only once work has taken
//! more than a second, and never with `--quiet` (indicatif hides it by itself when
//! stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::Reporter;

/// Shows `bar` on stderr once the work has taken a second (short work stays silent).
fn reveal_after_a_second(bar: &ProgressBar) {
    let delayed = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !delayed.is_finished() {
            delayed.set_draw_target(ProgressDrawTarget::stderr());
            delayed.enable_steady_tick(Duration::from_millis(120));
        }
    });
}

pub(super) struct Spinner {
    bar: ProgressBar,
    quiet: bool,
}

impl Spinner {
    pub(super) fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        if !quiet {
            reveal_after_a_second(&bar);
        }
        Self { bar, quiet }
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Reporter for Spinner {
    fn step(&self, message: &str) {
        tracing::info!("{message}");
        self.bar.set_message(message.to_string());
    }

    /// `warning: …` and `hint: …` on stderr; without a terminal to draw on (`-q`,
    /// `--json`) the log's warning instead, which `-q` silences.
    fn warn(&self, message: &str, hint: Option<&str>) {
        if self.quiet {
            tracing::warn!("{message}");
            return;
        }
        self.bar.suspend(|| {
            eprintln!("warning: {message}");
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
        });
    }
}

/// Byte progress of registry transfers as one bar, shown after a second.
pub(super) struct TransferBar {
    bar: ProgressBar,
    positions: std::sync::Mutex<std::collections::HashMap<crate::digest::Digest, u64>>,
}

impl TransferBar {
    pub(super) fn new(quiet: bool) -> std::sync::Arc<Self> {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes} ({bytes_per_sec})")
        {
            bar.set_style(style);
        }
        if !quiet {
            reveal_after_a_second(&bar);
        }
        std::sync::Arc::new(Self {
            bar,
            positions: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl crate::registry::Progress for TransferBar {
    fn blob_started(&self, _digest: &crate::digest::Digest, size: Option<u64>) {
        self.bar.inc_length(size.unwrap_or(0));
        self.bar.set_message("transferring");
    }

    fn blob_position(&self, digest: &crate::digest::Digest, position: u64) {
        if let Ok(mut positions) = self.positions.lock() {
            positions.insert(digest.clone(), position);
            self.bar.set_position(positions.values().sum());
        }
    }
}
