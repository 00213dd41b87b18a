//! Downloads started ahead of the base. Reading a base the store has never seen
//! (importing its blobs and inflating its layers for the facts) is a cold build's
//! first second, and the wheels and `.deb`s the lock on disk pins do not depend on
//! it: they are fetched on the runtime meanwhile. The Python and Debian layers' own
//! fetches then wait for them and find them in the store.
//!
//! Only when the build would most likely download them anyway: a build (or `fetch`)
//! not offline and without a registry layer cache (whose layers would make them
//! unneeded), from a lock on disk that pins this base and whose inputs are unchanged,
//! without `--upgrade`, with the base's facts not yet in the store. What is fetched
//! ahead is verified by hash like any download, so a guess that turns out wrong
//! costs only the transfer. Its error is the build's error only when the layer's own
//! fetch asks for the same downloads (same files, same URLs and credentials); else
//! that fetch runs as it always has. A build that fails before then cancels the
//! downloads and waits for them to stop, so no temp file is left behind.

use std::sync::Mutex;
use std::thread::JoinHandle;

use super::debian::locked_deb_requests;
use super::options::{BuildOptions, Reporter};
use super::python_layer::wheel_fetches;
use super::python_stage::{DOWNLOADS_AT_ONCE, PythonError, http, indexes_before_base};
use crate::debian::{ArchiveClient, ArchiveError, DebRequest};
use crate::lock::Lockfile;
use crate::project::Project;
use crate::python::{DownloadError, Upgrade, WheelFetch, fetch_wheels};
use crate::registry::RemoteOptions;
use crate::store::Store;

/// Whether a run may fetch ahead (a build or `fetch`, which download what the lock
/// pins) or not (`lock`, `cache export`'s planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ahead {
    Downloads,
    Nothing,
}

/// The downloads started ahead, if any.
#[derive(Default)]
pub(super) struct Prefetch {
    wheels: Option<Running<WheelFetch, DownloadError>>,
    debs: Option<Running<DebRequest, ArchiveError>>,
}

/// What a downloads' thread gives back: their outcome, `None` when cancelled.
type Outcome<E> = Option<Result<(), E>>;

/// Downloads running on the runtime, waited for by a thread of their own.
struct Running<F, E> {
    /// What was asked for: a layer's fetch takes over the outcome only when it asks
    /// for the same.
    fetches: Vec<F>,
    /// Dropping it cancels the downloads.
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
    /// The thread, until a layer's fetch takes its outcome.
    thread: Mutex<Option<JoinHandle<Outcome<E>>>>,
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
    /// Starts the downloads of the wheels and `.deb`s `before.on_disk` pins when the
    /// build would most likely make them (see the module's note); else nothing.
    pub(super) fn start(ahead: Ahead, before: &Before<'_>, reporter: &dyn Reporter) -> Self {
        let lock = match ahead {
            Ahead::Downloads => fetch_ahead(before),
            Ahead::Nothing => None,
        };
        let Some(lock) = lock else {
            return Self::default();
        };
        Self {
            wheels: start_wheels(lock, before, reporter),
            debs: start_debs(lock, before, reporter),
        }
    }

    /// Waits for the wheel downloads started ahead. Their error, when the Python
    /// layer's fetch asks for the same downloads (`fetches`), is the build's; else
    /// that fetch runs as usual and reports its own. Reports the step that fetch
    /// would have reported when the downloads were started.
    pub(super) fn wheels(
        &self,
        fetches: &[WheelFetch],
        reporter: &dyn Reporter,
    ) -> Result<(), PythonError> {
        let Some(running) = &self.wheels else {
            return Ok(());
        };
        Ok(running.join(fetches, || reporter.step("downloading wheels"))?)
    }

    /// Waits for the `.deb` downloads started ahead, as [`Prefetch::wheels`] does.
    pub(super) fn debs(&self, requests: &[DebRequest]) -> Result<(), ArchiveError> {
        match &self.debs {
            Some(running) => running.join(requests, || {}),
            None => Ok(()),
        }
    }
}

impl<F: PartialEq, E: std::fmt::Display> Running<F, E> {
    /// Runs `download` (given the cancellation) on a thread of its own.
    fn spawn(
        fetches: Vec<F>,
        download: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> Outcome<E> + Send + 'static,
    ) -> Option<Self>
    where
        E: Send + 'static,
    {
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("airlock-prefetch".into())
            .spawn(move || download(cancelled))
            .ok()?;
        Some(Self {
            fetches,
            cancel: Some(cancel),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Waits for the downloads (once; `started` is told when they had been started):
    /// their error when `fetches` are the same downloads.
    fn join(&self, fetches: &[F], started: impl FnOnce()) -> Result<(), E> {
        let taken = match self.thread.lock() {
            Ok(mut thread) => thread.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(thread) = taken else {
            return Ok(());
        };
        started();
        match thread.join() {
            Ok(Some(Err(error))) if self.fetches == fetches => Err(error),
            Ok(Some(Err(error))) => {
                tracing::debug!(%error, "a download started ahead failed; the layer fetches again");
                Ok(())
            }
            Ok(Some(Ok(()))) | Ok(None) | Err(_) => Ok(()),
        }
    }
}

impl<F, E> Drop for Running<F, E> {
    /// Cancels the downloads, unless a layer's fetch took their outcome, and waits
    /// until they stopped (a download's temp file goes with it).
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

/// The wheel downloads, started when the store lacks any.
fn start_wheels(
    lock: &Lockfile,
    before: &Before<'_>,
    reporter: &dyn Reporter,
) -> Option<Running<WheelFetch, DownloadError>> {
    let indexes = indexes_before_base(before.project)?;
    let fetches = wheel_fetches(&lock.wheels, &indexes);
    if fetches.iter().all(|w| before.store.has_blob(&w.sha256)) {
        return None;
    }
    let options = python_options(before);
    tracing::debug!(
        wheels = fetches.len(),
        "downloading wheels while the base is read"
    );
    let (store, list, progress) = (before.store.clone(), fetches.clone(), reporter.transfers());
    let runtime = before.options.runtime.clone();
    Running::spawn(fetches, move |cancelled| {
        // A client that cannot be made here is the Python layer's fetch to report.
        let client = http(&options).ok()?;
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
    })
}

/// The `.deb` downloads, started when the store lacks any.
fn start_debs(
    lock: &Lockfile,
    before: &Before<'_>,
    reporter: &dyn Reporter,
) -> Option<Running<DebRequest, ArchiveError>> {
    let fallback_urls = &before.project.settings.debian.fallback_urls;
    let requests = locked_deb_requests(lock, fallback_urls);
    if lock.debian.is_none() || requests.iter().all(|d| before.store.has_blob(&d.sha256)) {
        return None;
    }
    tracing::debug!(
        debs = requests.len(),
        "downloading Debian packages while the base is read"
    );
    let (store, list, progress) = (before.store.clone(), requests.clone(), reporter.transfers());
    let runtime = before.options.runtime.clone();
    Running::spawn(requests, move |cancelled| {
        let client = match ArchiveClient::new(&store, false, runtime.clone()) {
            Ok(client) => client.with_progress(progress),
            Err(error) => return Some(Err(error)),
        };
        runtime.block_on(async {
            tokio::select! {
                fetched = client.download(&list) => Some(fetched),
                _ = cancelled => None,
            }
        })
    })
}

/// The lock whose wheels and `.deb`s a run fetches ahead, when it would most likely
/// fetch them.
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
    if before.store.base_facts_path(&manifest).exists() {
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

/// The Python options the Python layer's fetch will use (`Session::python_options`).
fn python_options(before: &Before<'_>) -> super::PythonOptions {
    super::PythonOptions {
        offline: false,
        ca_files: before.remote.ca_files.clone(),
        source_date_epoch: before.options.source_date_epoch,
        ..before.options.python.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The downloads' error is the layer's only when it asks for the same downloads,
    /// and only once.
    #[test]
    fn coldbase_the_error_of_downloads_ahead_is_taken_only_for_the_same_downloads() {
        let failing =
            || Running::spawn(vec![1, 2], |_| Some(Err::<(), _>("boom"))).expect("thread");
        let same = failing();
        let mut told = false;
        assert_eq!(same.join(&[1, 2], || told = true), Err("boom"));
        assert!(told);
        assert_eq!(same.join(&[1, 2], || {}), Ok(()));
        let other = failing();
        assert_eq!(other.join(&[1, 3], || {}), Ok(()));
    }

    /// A prefetch dropped before its outcome was taken (the build failed first)
    /// cancels the downloads and waits until they stopped.
    #[test]
    fn coldbase_a_dropped_prefetch_cancels_and_waits_for_the_downloads() {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let running = Running::spawn(vec![1], move |cancelled| {
            let _ = cancelled.blocking_recv();
            std::thread::sleep(std::time::Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
            None::<Result<(), &str>>
        })
        .expect("thread");
        drop(running);
        assert!(stopped.load(Ordering::SeqCst));
    }
}
