//! Importing a file while reading it: one pass over the source, two cores. A second
//! thread reads the file, hashes it and writes it to a temp file in the store; the
//! caller's thread reads the same bytes (e.g. inflates a base layer to learn its
//! facts). The blob lands under its name only when the whole file matches its digest,
//! and what the reader made is handed back only then.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::{Store, StoreError};
use crate::digest::{Digest, HashingWriter};

/// The size of the pieces the reading thread hands over.
const CHUNK: usize = 256 << 10;
/// How many pieces may wait for the caller (bounds the memory of a slow reader).
const QUEUED: usize = 4;

/// The bytes the importing thread read, in order, as a reader. Ends when that thread
/// stops sending (at the end of the file, or on its error, which the import reports).
/// Pieces read to their end go back to that thread to be filled again, so the
/// import allocates a few pieces, not one per piece of the file.
struct Chunks {
    queue: Receiver<Vec<u8>>,
    back: SyncSender<Vec<u8>>,
    piece: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.piece.len() {
            match self.queue.recv() {
                Ok(piece) => {
                    let done = std::mem::replace(&mut self.piece, piece);
                    // The thread may have ended or hold enough pieces: then it drops.
                    let _ = self.back.try_send(done);
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Store {
    /// [`Store::import_file`], with `read` given the file's bytes on this thread while
    /// another hashes and copies them: the file is read once. `read`'s result comes
    /// back only when the blob is in the store under `expected` (an import error wins
    /// over whatever `read` made of the bytes; `read` may stop early). When the store
    /// has the blob already, `read` reads the store's copy.
    pub(crate) fn import_file_reading<T>(
        &self,
        source: &Path,
        expected: &Digest,
        read: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<(PathBuf, T), StoreError> {
        if self.has_blob(expected) {
            let path = self.blob_path(expected);
            let mut file = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
            let made = read(&mut file);
            return Ok((path, made));
        }
        let (send, queue) = sync_channel::<Vec<u8>>(QUEUED);
        let (back, recycled) = sync_channel::<Vec<u8>>(QUEUED + 1);
        std::thread::scope(|scope| {
            let copier = scope.spawn(move || {
                let mut input =
                    File::open(source).map_err(|e| StoreError::io("open", source, e))?;
                let temp = self.temp_file()?;
                let mut writer = HashingWriter::new(temp);
                let mut reader_gone = false;
                loop {
                    let mut piece = recycled.try_recv().unwrap_or_default();
                    piece.resize(CHUNK, 0);
                    let n = read_full(&mut input, &mut piece)
                        .map_err(|e| StoreError::io("copy", source, e))?;
                    if n == 0 {
                        break;
                    }
                    piece.truncate(n);
                    writer
                        .write_all(&piece)
                        .map_err(|e| StoreError::io("copy", source, e))?;
                    // A reader that stopped early leaves the rest to be hashed only.
                    reader_gone = reader_gone || send.send(piece).is_err();
                }
                drop(send);
                let (actual, _, temp) = writer.finish();
                super::blobs::expect_digest(source, expected, actual)?;
                self.commit_blob(temp, expected)
            });
            let mut chunks = Chunks {
                queue,
                back,
                piece: Vec::new(),
                at: 0,
            };
            let made = read(&mut chunks);
            // Unblocks the copier if `read` stopped before the end.
            drop(chunks);
            let path = copier.join().map_err(|_| {
                StoreError::io(
                    "copy",
                    source,
                    io::Error::other("the copying thread panicked"),
                )
            })??;
            Ok((path, made))
        })
    }
}

/// Fills `buf` as far as the file allows; 0 at its end.
fn read_full(input: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// The reader sees every byte, in order, and the blob is stored (more than one
    /// piece, and a last short one).
    #[test]
    fn import_file_reading_hands_over_every_byte_and_stores_the_blob() {
        let temp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(temp.path().join("store")).expect("store");
        let data = bytes(3 * CHUNK + 12345);
        let source = temp.path().join("blob");
        std::fs::write(&source, &data).expect("write");
        let digest = Digest::of(&data);
        let (path, seen) = store
            .import_file_reading(&source, &digest, |r| {
                let mut seen = Vec::new();
                r.read_to_end(&mut seen).map(|_| seen)
            })
            .expect("import");
        assert_eq!(seen.expect("read"), data);
        assert_eq!(path, store.blob_path(&digest));
        assert_eq!(std::fs::read(&path).expect("blob"), data);
        // The store's copy is read when it is there already.
        let (_, again) = store
            .import_file_reading(&source, &digest, |r| {
                let mut seen = Vec::new();
                r.read_to_end(&mut seen).map(|_| seen.len())
            })
            .expect("again");
        assert_eq!(again.expect("read"), data.len());
    }

    /// Hostile input: bytes that do not match the digest are refused as
    /// `import_file` refuses them, even when the reader stopped early, and nothing
    /// is left in the store (no blob, no temp file).
    #[test]
    fn import_file_reading_refuses_a_mismatch_and_leaves_nothing() {
        let temp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(temp.path().join("store")).expect("store");
        let data = bytes(2 * CHUNK + 7);
        let source = temp.path().join("blob");
        std::fs::write(&source, &data).expect("write");
        let wrong = Digest::of(b"something else");
        for stop_early in [false, true] {
            let err = store
                .import_file_reading(&source, &wrong, |r| {
                    let mut buf = vec![0; if stop_early { 10 } else { 4 * CHUNK }];
                    r.read(&mut buf)
                })
                .expect_err("a mismatch");
            assert!(
                matches!(&err, StoreError::DigestMismatch { actual, .. } if *actual == Digest::of(&data)),
                "{err}"
            );
            assert!(!store.blob_path(&wrong).exists());
            let left = std::fs::read_dir(temp.path().join("store").join("tmp"))
                .expect("tmp")
                .count();
            assert_eq!(left, 0, "temp files left behind");
        }
    }

    /// A source that cannot be opened fails as `import_file` fails.
    #[test]
    fn import_file_reading_reports_a_missing_source() {
        let temp = tempfile::tempdir().expect("tempdir");
        let store = Store::open(temp.path().join("store")).expect("store");
        let err = store
            .import_file_reading(&temp.path().join("missing"), &Digest::of(b"x"), |_| ())
            .expect_err("missing");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
