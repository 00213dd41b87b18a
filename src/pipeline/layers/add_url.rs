//! `ADD --checksum=sha256:… <URL> <dest>`: the file downloaded through `http` into the
//! store under the digest the Dockerfile pins (verified before use; a build that has
//! it needs no network), then one layer with it at its destination: mode 0600 as
//! Docker gives a downloaded file (or `--chmod`), owned by root (or `--chown`).
//!
//! The step has its `[[steps]]` entry in `airlock.lock` (kind `add-url`: the URL, its
//! credentials and query values redacted, and the checksum), written once the layer
//! is realised. Under `--locked` a Dockerfile whose URL or checksum differ from it is
//! refused before anything is downloaded, naming the line.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::StreamExt as _;

use super::copy_step::{DirsBelow, Layout, finish, key_without_compression};
use super::{Below, CopyError, LayerStep, StoredLayer};
use crate::digest::{Digest, HashingWriter};
use crate::http::HttpClient;
use crate::layer::{Compression, Entry, EntryKind, FileSource, FileTree, Owner};
use crate::lock::{LockError, LockedStep};
use crate::pipeline::BuildError;
use crate::pipeline::options::{LockMode, Reporter};
use crate::pipeline::pin::Pinned;
use crate::store::Store;

/// Bumped when what an `add-url` pin's key covers changes.
const ADD_URL_KEY_FORMAT: &str = "airlock-add-url-v1";

/// One `ADD <URL>`.
pub(in crate::pipeline) struct AddUrlStep<'a> {
    pub line: usize,
    pub created_by: String,
    pub url: String,
    pub sha256: Digest,
    /// The destination as written, absolute (a trailing `/`: keep the URL's name).
    pub dest: String,
    pub owner: Owner,
    pub chmod: Option<u32>,
    pub dirs: Rc<DirsBelow<'a>>,
    pub store: &'a Store,
    pub http: Rc<HttpClient>,
    pub offline: bool,
    pub runtime: &'a tokio::runtime::Handle,
    pub mtime: u64,
    pub compression: Compression,
    /// The build's lock and mode: the step's pin is checked and recorded there.
    pub pinned: &'a Pinned,
    pub tree: OnceCell<FileTree>,
}

impl AddUrlStep<'_> {
    fn error(&self, message: String) -> BuildError {
        CopyError::Invalid {
            line: self.line,
            instruction: "ADD".into(),
            message,
        }
        .into()
    }

    /// The URL without credentials or query, for messages.
    fn shown(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(url) => crate::http::redact_url(&url),
            Err(_) => "<the URL>".into(),
        }
    }

    /// The step's `[[steps]]` entry: the URL as the lock shows it, the checksum, and a
    /// key of the two.
    fn pin(&self) -> LockedStep {
        let url = self.shown();
        let key = Digest::of(format!("{ADD_URL_KEY_FORMAT}\0{url}\0{}", self.sha256).as_bytes());
        LockedStep {
            line: self.line,
            instruction: self.created_by.clone(),
            kind: "add-url".into(),
            key,
            layer: None,
            network: None,
            wheels: Vec::new(),
            debs: Vec::new(),
            url: Some(url),
            checksum: Some(self.sha256.clone()),
        }
    }

    /// Under `--locked`, the lock must pin this step as the Dockerfile has it: the
    /// same instruction, URL and checksum.
    fn check_locked(&self) -> Result<(), BuildError> {
        if self.pinned.mode != LockMode::Locked {
            return Ok(());
        }
        let wanted = self.pin();
        let on_disk = self
            .pinned
            .lock
            .steps
            .iter()
            .find(|s| s.line == self.line && s.kind == wanted.kind);
        let reason = match on_disk {
            None => format!("it has no pin for the ADD at Dockerfile:{}", self.line),
            Some(pin) if pin.url != wanted.url || pin.checksum != wanted.checksum => format!(
                "it pins `{}` with the checksum `{}` for the ADD at Dockerfile:{}, which now downloads `{}` with the checksum `{}`",
                pin.url.as_deref().unwrap_or("no URL"),
                pin.checksum
                    .as_ref()
                    .map_or_else(|| "none".into(), ToString::to_string),
                self.line,
                self.shown(),
                self.sha256
            ),
            Some(pin) if *pin != wanted => format!(
                "its pin for the ADD at Dockerfile:{} is for another instruction",
                self.line
            ),
            Some(_) => return Ok(()),
        };
        Err(LockError::Stale {
            path: self.pinned.session.lock_path.clone(),
            reason,
        }
        .into())
    }

    /// Downloads the file into the store unless it is there; verifies its digest.
    fn fetch(&self, reporter: &dyn Reporter) -> Result<(), BuildError> {
        if self.store.has_blob(&self.sha256) {
            return Ok(());
        }
        if self.offline {
            return Err(self.error(format!(
                "downloads `{}`, which the store lacks, and the build is offline",
                self.shown()
            )));
        }
        reporter.step(&format!("downloading {}", self.shown()));
        let actual = self
            .runtime
            .block_on(self.download())
            .map_err(|message| self.error(message))?;
        if actual != self.sha256 {
            return Err(self.error(format!(
                "downloaded `{}`, whose sha256 is `{actual}`, not the `--checksum` `{}`",
                self.shown(),
                self.sha256
            )));
        }
        Ok(())
    }

    async fn download(&self) -> Result<Digest, String> {
        let shown = self.shown();
        let url = url::Url::parse(&self.url).map_err(|e| format!("has an invalid URL: {e}"))?;
        let http = &self.http;
        let response = http
            .send(|| http.reqwest().get(url.clone()))
            .await
            .map_err(|e| format!("cannot download `{shown}`: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "cannot download `{shown}`: the server answered {}",
                response.status().as_u16()
            ));
        }
        let write = |e: std::io::Error| format!("cannot store `{shown}`: {e}");
        let temp = self.store.temp_file().map_err(|e| e.to_string())?;
        let mut writer = HashingWriter::new(std::io::BufWriter::new(temp));
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("cannot download `{shown}`: {e}"))?;
            std::io::Write::write_all(&mut writer, &chunk).map_err(write)?;
        }
        let (actual, _, buffered) = writer.finish();
        let temp = buffered.into_inner().map_err(|e| write(e.into_error()))?;
        if actual == self.sha256 {
            self.store
                .commit_blob(temp, &actual)
                .map_err(|e| e.to_string())?;
        }
        Ok(actual)
    }

    fn tree(&self, reporter: &dyn Reporter) -> Result<&FileTree, BuildError> {
        if let Some(tree) = self.tree.get() {
            return Ok(tree);
        }
        self.fetch(reporter)?;
        let path = self.store.blob_path(&self.sha256);
        let size = std::fs::metadata(&path)
            .map_err(|e| self.error(format!("cannot read the downloaded file: {e}")))?
            .len();
        let name = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| {
                u.path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_string))
            })
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .ok_or_else(|| {
                self.error(format!(
                    "downloads `{}`, whose URL names no file; write the destination's file name",
                    self.shown()
                ))
            });
        let dest = self.dirs.resolve(&self.dest);
        let target = if self.dest.ends_with('/') || self.dirs.get(&dest, reporter)?.is_some() {
            let name = name?;
            if dest.is_empty() {
                name
            } else {
                format!("{dest}/{name}")
            }
        } else {
            dest
        };
        let mut layout: Layout = BTreeMap::new();
        layout.insert(
            target,
            Entry {
                kind: EntryKind::File {
                    source: FileSource::Host(path),
                    size,
                    sha256: self.sha256.clone(),
                },
                mode: self.chmod.unwrap_or(0o600),
                owner: self.owner,
            },
        );
        let tree = finish(layout, self.owner, &self.dirs, reporter)?;
        self.dirs.record(&tree);
        Ok(self.tree.get_or_init(|| tree))
    }
}

impl LayerStep for AddUrlStep<'_> {
    fn kind(&self) -> &'static str {
        "add"
    }

    fn created_by(&self) -> String {
        self.created_by.clone()
    }

    fn key(
        &self,
        _below: &Below<'_>,
        reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        self.check_locked()?;
        Ok(Some(self.tree(reporter)?.derivation_key_with(
            "add",
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, key: &Digest) -> Digest {
        key_without_compression(self.tree.get(), "add", self.mtime, key)
    }

    fn pinned_when_realised(&self) -> bool {
        true
    }

    fn produce(
        &self,
        _key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        StoredLayer::of_tree(store, self.tree(reporter)?, self.mtime, self.compression)
    }

    fn realised(
        &self,
        _key: &Digest,
        _record: &crate::store::LayerRecord,
        _reused: bool,
    ) -> Result<(), BuildError> {
        self.pinned.step_pins.record(self.pin());
        Ok(())
    }
}
