//! Progress display on stderr. A spinner with the step's name appears once work has
//! taken more than a second; transfers (base pulls, wheels, `.deb`s, cached layers,
//! pushes) show, on a terminal, one byte bar per active transfer with its rate and
//! ETA plus a total line; without a terminal, one plain line per finished transfer.
//! Nothing with `--quiet` (and `--json`, whose callers pass quiet).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::pipeline::Reporter;
use crate::registry::{BlobOutcome, Progress};

/// How transfers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Byte bars (stderr is a terminal).
    Bars,
    /// A plain line per finished transfer (stderr is a file or a pipe).
    Lines,
    /// Nothing (`-q`, `--json`).
    Silent,
}

impl Mode {
    fn of(quiet: bool, terminal: bool) -> Self {
        match (quiet, terminal) {
            (true, _) => Self::Silent,
            (false, true) => Self::Bars,
            (false, false) => Self::Lines,
        }
    }
}

/// Shows `multi` on stderr once the work has taken a second, unless `bar` (the
/// spinner) is finished by then: short work stays silent.
fn reveal_after_a_second(multi: &MultiProgress, bar: &ProgressBar) {
    let (multi, bar) = (multi.clone(), bar.clone());
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !bar.is_finished() {
            multi.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    });
}

pub(super) struct Spinner {
    multi: MultiProgress,
    bar: ProgressBar,
    quiet: bool,
    transfers: Arc<Transfers>,
}

impl Spinner {
    pub(super) fn new(quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let bar = multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        if !quiet {
            reveal_after_a_second(&multi, &bar);
        }
        let mode = Mode::of(quiet, std::io::stderr().is_terminal());
        Self {
            transfers: Arc::new(Transfers::new(multi.clone(), mode)),
            multi,
            bar,
            quiet,
        }
    }

    /// The transfer display, for `RemoteOptions::progress`.
    pub(super) fn transfers(&self) -> Arc<Transfers> {
        Arc::clone(&self.transfers)
    }

    pub(super) fn finish(&self) {
        self.transfers.finish();
        self.bar.finish_and_clear();
        let _ = self.multi.clear();
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
        self.multi.suspend(|| {
            eprintln!("warning: {message}");
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
        });
    }

    fn transfers(&self) -> Arc<dyn Progress> {
        self.transfers()
    }
}

/// The transfers under way, drawn in a [`MultiProgress`] (bars) or as lines.
pub(super) struct Transfers {
    multi: MultiProgress,
    mode: Mode,
    state: Mutex<TransferState>,
}

#[derive(Default)]
struct TransferState {
    /// Names given to transfers (by the digest of their content).
    names: HashMap<Digest, String>,
    active: HashMap<Digest, Transfer>,
    /// The total line, while transfers are under way.
    total: Option<ProgressBar>,
    /// Bytes of the transfers finished since the total line appeared.
    done: u64,
}

struct Transfer {
    bar: Option<ProgressBar>,
    size: Option<u64>,
    position: u64,
}

impl Transfers {
    /// The transfer display of the commands without a spinner (`pull`, `push`).
    pub(super) fn standalone(quiet: bool) -> Arc<Self> {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Arc::new(Self::new(
            MultiProgress::with_draw_target(target),
            Mode::of(quiet, std::io::stderr().is_terminal()),
        ))
    }

    fn new(multi: MultiProgress, mode: Mode) -> Self {
        Self {
            multi,
            mode,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TransferState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Clears every bar.
    pub(super) fn finish(&self) {
        let mut state = self.state();
        for (_, transfer) in state.active.drain() {
            if let Some(bar) = transfer.bar {
                bar.finish_and_clear();
            }
        }
        if let Some(total) = state.total.take() {
            total.finish_and_clear();
        }
    }

    fn name(state: &TransferState, digest: &Digest) -> String {
        state.names.get(digest).cloned().unwrap_or_else(|| {
            let hex = digest.hex();
            format!("blob {}", &hex[..hex.len().min(12)])
        })
    }

    fn bar_style(known_size: bool) -> Option<ProgressStyle> {
        let template = if known_size {
            "{msg:32!} [{bar:25}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}"
        } else {
            "{msg:32!} {spinner} {bytes:>10} {bytes_per_sec:>12}"
        };
        ProgressStyle::with_template(template)
            .ok()
            .map(|style| style.progress_chars("=> "))
    }

    fn update_total(state: &TransferState) {
        if let Some(total) = &state.total {
            let moving: u64 = state.active.values().map(|t| t.position).sum();
            total.set_position(state.done + moving);
        }
    }
}

impl Progress for Transfers {
    fn blob_named(&self, digest: &Digest, name: &str) {
        if self.mode == Mode::Silent {
            return;
        }
        let mut state = self.state();
        state.names.insert(digest.clone(), name.to_string());
        if let Some(Transfer { bar: Some(bar), .. }) = state.active.get(digest) {
            bar.set_message(name.to_string());
        }
    }

    fn blob_started(&self, digest: &Digest, size: Option<u64>) {
        if self.mode == Mode::Silent {
            return;
        }
        let mut state = self.state();
        if state.active.contains_key(digest) {
            return;
        }
        let bar = (self.mode == Mode::Bars).then(|| {
            if state.total.is_none() {
                let total = self.multi.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg:32!} [{bar:25}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}",
                ) {
                    total.set_style(style.progress_chars("=> "));
                }
                total.set_message("total");
                state.total = Some(total);
                state.done = 0;
            }
            let bar = self
                .multi
                .insert_from_back(1, ProgressBar::new(size.unwrap_or(0)));
            if let Some(style) = Self::bar_style(size.is_some()) {
                bar.set_style(style);
            }
            bar.set_message(Self::name(&state, digest));
            if let Some(total) = &state.total {
                total.inc_length(size.unwrap_or(0));
            }
            bar
        });
        state.active.insert(
            digest.clone(),
            Transfer {
                bar,
                size,
                position: 0,
            },
        );
    }

    fn blob_position(&self, digest: &Digest, position: u64) {
        if self.mode == Mode::Silent {
            return;
        }
        let mut state = self.state();
        let Some(transfer) = state.active.get_mut(digest) else {
            return;
        };
        transfer.position = position;
        if let Some(bar) = &transfer.bar {
            bar.set_position(position);
        }
        Self::update_total(&state);
    }

    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        if self.mode == Mode::Silent {
            return;
        }
        let mut state = self.state();
        let transfer = state.active.remove(digest);
        let bytes = transfer
            .as_ref()
            .map_or(0, |t| t.size.unwrap_or(t.position).max(t.position));
        if let Some(Transfer { bar: Some(bar), .. }) = &transfer {
            bar.finish_and_clear();
        }
        state.done += bytes;
        Self::update_total(&state);
        if state.active.is_empty()
            && let Some(total) = state.total.take()
        {
            total.finish_and_clear();
        }
        if self.mode == Mode::Lines
            && let Some(line) = finished_line(&Self::name(&state, digest), outcome, bytes)
        {
            eprintln!("{line}");
        }
    }
}

/// The plain line for a finished transfer; none for a blob that was already here.
fn finished_line(name: &str, outcome: BlobOutcome, bytes: u64) -> Option<String> {
    let verb = match outcome {
        BlobOutcome::Downloaded => "downloaded",
        BlobOutcome::Uploaded => "uploaded",
        BlobOutcome::Mounted => "mounted",
        BlobOutcome::Existed => "already in the registry:",
        BlobOutcome::Cached => return None,
    };
    Some(format!("{verb} {name} ({})", HumanBytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_follows_quiet_then_the_terminal() {
        assert_eq!(Mode::of(true, true), Mode::Silent);
        assert_eq!(Mode::of(true, false), Mode::Silent);
        assert_eq!(Mode::of(false, true), Mode::Bars);
        assert_eq!(Mode::of(false, false), Mode::Lines);
    }

    #[test]
    fn bars_follow_transfers_and_the_total_goes_when_they_end() {
        let transfers = Transfers::new(
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            Mode::Bars,
        );
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        transfers.blob_named(&a, "a.whl");
        transfers.blob_started(&a, Some(100));
        transfers.blob_started(&b, None);
        transfers.blob_position(&a, 40);
        transfers.blob_position(&b, 7);
        {
            let state = transfers.state();
            let total = state.total.as_ref().expect("a total line");
            assert_eq!(total.position(), 47);
            assert_eq!(total.length(), Some(100));
            let bar = state.active[&a].bar.as_ref().expect("a bar");
            assert_eq!(bar.message(), "a.whl");
            assert_eq!(bar.position(), 40);
        }
        transfers.blob_finished(&a, BlobOutcome::Downloaded);
        assert_eq!(
            transfers.state().total.as_ref().map(ProgressBar::position),
            Some(107)
        );
        transfers.blob_finished(&b, BlobOutcome::Uploaded);
        let state = transfers.state();
        assert!(state.active.is_empty());
        assert!(state.total.is_none(), "the total line stays after the end");
    }

    #[test]
    fn a_finished_transfer_is_one_plain_line() {
        assert_eq!(
            finished_line(
                "tinylib-1.0-py3-none-any.whl",
                BlobOutcome::Downloaded,
                2048
            ),
            Some("downloaded tinylib-1.0-py3-none-any.whl (2.00 KiB)".to_string())
        );
        assert_eq!(
            finished_line("blob 0123456789ab", BlobOutcome::Mounted, 10),
            Some("mounted blob 0123456789ab (10 B)".to_string())
        );
        assert_eq!(finished_line("x", BlobOutcome::Cached, 1), None);
    }
}
