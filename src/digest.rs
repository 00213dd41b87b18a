//! Content digests (`sha256:<hex>`), the identity of every blob airlock reads or writes.
//!
//! Owns parsing, validation and streaming computation of digests. It must not know
//! where blobs live (that is the store's job).

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("Unsupported digest algorithm in `{0}`; only `sha256` is supported")]
    Algorithm(String),
    #[error("Malformed digest `{0}`: expected `sha256:` followed by 64 lowercase hex digits")]
    Malformed(String),
}

impl Digest {
    /// The digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(raw),
        }
    }

    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// Hashes everything a reader yields; returns the digest and the byte count.
    pub fn of_reader(mut reader: impl Read) -> io::Result<(Self, u64)> {
        let mut hasher = HashingWriter::new(io::sink());
        io::copy(&mut reader, &mut hasher)?;
        let (digest, size, _) = hasher.finish();
        Ok((digest, size))
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Malformed(s.to_string()));
        };
        if algorithm != "sha256" {
            return Err(DigestError::Algorithm(s.to_string()));
        }
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(DigestError::Malformed(s.to_string()));
        }
        Ok(Self {
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub fn finish(self) -> (Digest, u64, W) {
        let digest = Digest::from_sha256(self.hasher.finalize().into());
        (digest, self.size, self.inner)
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 whose state can be saved and resumed later (in another process): the eight
/// state words, the number of bytes hashed and the fewer than 64 bytes not yet
/// compressed. Built on `sha2::compress256`, so it hashes exactly as [`Sha256`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ResumableSha256 {
    words: [u32; 8],
    len: u64,
    pending: [u8; 64],
}

/// The saved state of a [`ResumableSha256`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sha256State {
    /// The state words, big-endian (32 bytes).
    pub words: [u8; 32],
    /// Bytes hashed in all.
    pub len: u64,
    /// The last `len % 64` bytes hashed, not yet compressed.
    pub pending: Vec<u8>,
}

/// SHA-256's initial state words.
const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Blocks compressed per call (copied into one array: `compress256` takes a slice of
/// blocks).
const SHA256_BATCH: usize = 32;

type Block = sha2::digest::generic_array::GenericArray<u8, sha2::digest::consts::U64>;

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl ResumableSha256 {
    pub(crate) fn new() -> Self {
        Self {
            words: SHA256_INIT,
            len: 0,
            pending: [0; 64],
        }
    }

    /// Bytes hashed so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn pending_len(&self) -> usize {
        (self.len % 64) as usize
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        let held = self.pending_len();
        self.len += data.len() as u64;
        if held > 0 {
            let take = (64 - held).min(data.len());
            self.pending[held..held + take].copy_from_slice(&data[..take]);
            data = &data[take..];
            if held + take < 64 {
                return;
            }
            let block = *Block::from_slice(&self.pending);
            sha2::compress256(&mut self.words, std::slice::from_ref(&block));
        }
        let mut blocks = data.chunks_exact(64);
        let mut batch = [Block::default(); SHA256_BATCH];
        loop {
            let mut count = 0;
            for (slot, block) in batch.iter_mut().zip(blocks.by_ref()) {
                slot.copy_from_slice(block);
                count += 1;
            }
            if count == 0 {
                break;
            }
            sha2::compress256(&mut self.words, &batch[..count]);
        }
        let rest = blocks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
    }

    /// The state, to resume from with [`ResumableSha256::resume`].
    pub(crate) fn save(&self) -> Sha256State {
        let mut words = [0u8; 32];
        for (out, word) in words.chunks_exact_mut(4).zip(self.words) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        Sha256State {
            words,
            len: self.len,
            pending: self.pending[..self.pending_len()].to_vec(),
        }
    }

    /// The hasher of a saved state; `None` when the pending bytes do not match the
    /// length.
    pub(crate) fn resume(state: &Sha256State) -> Option<Self> {
        if state.pending.len() as u64 != state.len % 64 {
            return None;
        }
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(state.words.chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().ok()?);
        }
        let mut pending = [0u8; 64];
        pending[..state.pending.len()].copy_from_slice(&state.pending);
        Some(Self {
            words,
            len: state.len,
            pending,
        })
    }

    pub(crate) fn finish(mut self) -> Digest {
        let bits = self.len.wrapping_mul(8);
        let held = self.pending_len();
        let mut tail = [0u8; 128];
        tail[..held].copy_from_slice(&self.pending[..held]);
        tail[held] = 0x80;
        let end = if held < 56 { 64 } else { 128 };
        tail[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        for block in tail[..end].chunks_exact(64) {
            sha2::compress256(
                &mut self.words,
                std::slice::from_ref(Block::from_slice(block)),
            );
        }
        let mut raw = [0u8; 32];
        for (out, word) in raw.chunks_exact_mut(4).zip(self.words) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        Digest::from_sha256(raw)
    }
}

impl crate::hint::Hint for DigestError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Algorithm(..) | Self::Malformed(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        let text = format!("sha256:{}", "ab".repeat(32));
        let digest: Digest = text.parse().expect("valid digest");
        assert_eq!(digest.to_string(), text);
    }

    #[test]
    fn rejects_bad_digests() {
        assert!(matches!(
            "sha512:00".parse::<Digest>(),
            Err(DigestError::Algorithm(_))
        ));
        assert!("sha256:XYZ".parse::<Digest>().is_err());
        assert!(
            format!("sha256:{}", "AB".repeat(32))
                .parse::<Digest>()
                .is_err()
        );
        assert!("nocolon".parse::<Digest>().is_err());
    }

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn resumable_sha256_equals_sha256_split_saved_and_resumed_anywhere() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..300 {
            let len = match round % 3 {
                0 => (next(&mut seed) % 200) as usize,
                1 => (next(&mut seed) % 5000) as usize,
                _ => (next(&mut seed) % 300_000) as usize,
            };
            let data: Vec<u8> = (0..len).map(|_| next(&mut seed) as u8).collect();
            let mut hasher = ResumableSha256::new();
            let mut at = 0;
            while at < len {
                let step = 1
                    + (next(&mut seed) as usize
                        % (len - at).min(if round % 2 == 0 { 70 } else { 70_000 }));
                hasher.update(&data[at..at + step]);
                at += step;
                if next(&mut seed).is_multiple_of(2) {
                    let saved = hasher.save();
                    assert_eq!(saved.len, at as u64);
                    assert_eq!(saved.pending, data[at - at % 64..at]);
                    hasher = ResumableSha256::resume(&saved).expect("a saved state resumes");
                }
            }
            assert_eq!(hasher.len(), len as u64);
            assert_eq!(hasher.finish(), Digest::of(&data), "length {len}");
        }
        // A state whose pending bytes do not match its length is refused.
        let mut saved = ResumableSha256::new().save();
        saved.len = 3;
        assert!(ResumableSha256::resume(&saved).is_none());
        assert_eq!(ResumableSha256::new().finish(), Digest::of(b""));
    }

    #[test]
    fn hashes_known_value() {
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let (digest, size) = Digest::of_reader(&b"abc"[..]).expect("in-memory read");
        assert_eq!(size, 3);
        assert_eq!(
            digest.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
