//! Downloads started ahead of the base. Reading a base the store has never seen
//! (importing its blobs and inflating its layers for the facts) is a cold build's
//! first second, and the wheels the lock on disk pins do not depend on it: they are
//! fetched on the runtime meanwhile. The Python layer's own fetch then waits for
//! them and finds them in the store.
//!
//! Only when the build would most likely download them anyway: a build (or `fetch`)
//! not offline and without a registry layer cache (whose layer would make them
//! unneeded), from a lock on disk that pins this base and whose inputs are unchanged,
//! without `--upgrade`, with the base's facts not yet in the store. What is fetched
//! ahead is verified by hash like any download, so a guess that turns out wrong
//! costs only the transfer. Its error is the build's error only when the build's
//! own fetch asks for the same downloads (same files, same URLs and credentials);
//! else the build's fetch runs as it always has. A build that fails before the join
//! stops the downloads and waits for them to end, so no temp file is left behind.

use std::sync::Mutex;
use std::thread::JoinHandle;

use super::options::{BuildOptions, Reporter};
use super::python_layer::wheel_fetches;
use super::python_stage::{DOWNLOADS_AT_ONCE, PythonError, http, indexes_before_base};
use crate::lock::Lockfile;
use crate::project::Project;
use crate::python::{DownloadError, Upgrade, WheelFetch, fetch_wheels};
use crate::registry::RemoteOptions;
use crate::store::Store;

/// Whether a run may fetch ahead (a build or `fetch`, which download what the lock
/// pins) or not (`lock`, `cache export`'s planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ahead {
    Wheels,
    Nothing,
}

/// The downloads started ahead, if any.
#[derive(Default)]
pub(super) struct Prefetch {
    wheels: Option<Running>,
}

/// What the downloads' thread gives back: their outcome, `None` when cancelled.
type Outcome = Option<Result<(), DownloadError>>;

/// Wheel downloads running on the runtime, waited for by a thread of their own.
struct Running {
    /// What was asked for: the build's fetch takes over the outcome only when it asks
    /// for the same.
    fetches: Vec<WheelFetch>,
    /// Dropping it cancels the downloads.
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
    /// The thread, until the build takes its outcome.
    thread: Mutex<Option<JoinHandle<Outcome>>>,
}

/// What a run that may fetch ahead knows before its base is read.
pub(super) struct Before<'a> {
    pub options: &'a BuildOptions,
    pub project: &'a Project,
    pub store: &'a Store,
    pub remote: &'a RemoteOptions,
    pub on_disk: Option<&'a Lockfile>,
}

impl Prefetch {
    /// Starts the downloads of the wheels `before.on_disk` pins when the build would
    /// most likely make them (see the module's note); else nothing.
    pub(super) fn start(ahead: Ahead, before: &Before<'_>, reporter: &dyn Reporter) -> Self {
        if ahead == Ahead::Nothing {
            return Self::default();
        }
        let Some(lock) = fetch_ahead(before) else {
            return Self::default();
        };
        let Some(indexes) = indexes_before_base(before.project) else {
            return Self::default();
        };
        let fetches = wheel_fetches(&lock.wheels, &indexes);
        if fetches.iter().all(|w| before.store.has_blob(&w.sha256)) {
            return Self::default();
        }
        let Ok(client) = http(&python_options(before)) else {
            return Self::default();
        };
        tracing::debug!(
            wheels = fetches.len(),
            "downloading wheels while the base is read"
        );
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let (store, list, progress) = (before.store.clone(), fetches.clone(), reporter.transfers());
        let runtime = before.options.runtime.clone();
        let thread = std::thread::Builder::new()
            .name("airlock-prefetch".into())
            .spawn(move || {
                runtime.block_on(async {
                    let fetch = fetch_wheels(
                        &client,
                        &store,
                        &list,
                        false,
                        DOWNLOADS_AT_ONCE,
                        progress.as_ref(),
                    );
                    tokio::select! {
                        fetched = fetch => Some(fetched),
                        _ = cancelled => None,
                    }
                })
            });
        let Ok(thread) = thread else {
            return Self::default();
        };
        Self {
            wheels: Some(Running {
                fetches,
                cancel: Some(cancel),
                thread: Mutex::new(Some(thread)),
            }),
        }
    }

    /// Waits for the wheel downloads started ahead. Their error, when the build's
    /// fetch asks for the same downloads (`fetches`), is the build's; else the
    /// build's fetch runs as usual and reports its own. Reports the step the build's
    /// fetch would have reported when the downloads were started.
    pub(super) fn wheels(
        &self,
        fetches: &[WheelFetch],
        reporter: &dyn Reporter,
    ) -> Result<(), PythonError> {
        let Some(running) = &self.wheels else {
            return Ok(());
        };
        let taken = match running.thread.lock() {
            Ok(mut thread) => thread.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(thread) = taken else {
            return Ok(());
        };
        reporter.step("downloading wheels");
        match thread.join() {
            Ok(Some(Err(error))) if running.fetches == fetches => Err(error.into()),
            Ok(Some(Err(error))) => {
                tracing::debug!(%error, "a download started ahead failed; the build fetches again");
                Ok(())
            }
            Ok(Some(Ok(()))) | Ok(None) | Err(_) => Ok(()),
        }
    }
}

impl Drop for Running {
    /// Stops the downloads and waits until they have (a download's temp file goes
    /// with it), unless their outcome is known.
    fn drop(&mut self) {
        drop(self.cancel.take());
        let thread = match self.thread.get_mut() {
            Ok(thread) => thread.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The lock whose wheels a run fetches ahead, when it would most likely fetch them.
fn fetch_ahead<'a>(before: &Before<'a>) -> Option<&'a Lockfile> {
    let options = before.options;
    if before.remote.offline || options.python.offline || !options.cache.is_empty() {
        return None;
    }
    if options.upgrade_base || options.python.upgrade != Upgrade::None {
        return None;
    }
    let lock = before.on_disk?;
    let manifest = lock.pinned_base(&before.project.dockerfile.from.image)?;
    // A base whose facts the store keeps is read in no time: nothing to overlap.
    if before.store.base_facts_path(&manifest).exists() || lock.wheels.is_empty() {
        return None;
    }
    let unchanged = ["packages.txt", "requirements.txt"].iter().all(|name| {
        before
            .project
            .inputs
            .get(*name)
            .map(|text| crate::digest::Digest::of(text.as_bytes()))
            .as_ref()
            == lock.inputs.get(*name)
    });
    unchanged.then_some(lock)
}

/// The Python options the build's fetch will use (`Session::python_options`).
fn python_options(before: &Before<'_>) -> super::PythonOptions {
    super::PythonOptions {
        offline: false,
        ca_files: before.remote.ca_files.clone(),
        source_date_epoch: before.options.source_date_epoch,
        ..before.options.python.clone()
    }
}
