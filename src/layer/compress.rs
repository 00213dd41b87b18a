//! The one pinned compressor. Every blob airlock compresses goes through here, so
//! the compressed bytes (and therefore digests) depend on nothing but the input.
//!
//! Layers are compressed as a sequence of independent members, one per
//! [`MEMBER_SIZE`] bytes of tar, compressed in parallel and written in order: gzip
//! members (RFC 1952 allows several; every gzip reader concatenates them) or zstd
//! frames (a zstd stream is a sequence of frames). The member size is fixed, so the
//! bytes do not depend on how many cores the machine has. A layer smaller than one
//! member is a single ordinary gzip stream (or zstd frame).
//!
//! Deflate is libdeflate's (the `libdeflater` crate, pinned with its C library), at
//! level 6, with gzip framing written by airlock; zstd is libzstd's (the `zstd`
//! crate, pinned), level [`ZSTD_LEVEL`], one frame per member, single-threaded, with
//! a checksum. flate2's backend is chosen by feature unification across the
//! dependency tree, so it never writes layer bytes. `benches/compressors.rs` holds
//! the figures the choice was made by.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// Uncompressed bytes per member. Part of the format: changing it changes digests.
pub(super) const MEMBER_SIZE: usize = 4 << 20;

/// The deflate level of every gzip layer (libdeflate's scale, 1-12).
const LEVEL: i32 = 6;
/// The zstd level of every zstd layer.
pub(crate) const ZSTD_LEVEL: i32 = 3;

pub use crate::oci::Compression;

impl Compression {
    /// What goes into a derivation key: the format, the pinned encoder and level.
    pub(crate) fn key_part(self) -> String {
        match self {
            // The default adds nothing, so keys name the compressor only by
            // `FORMAT_VERSION` (bumped with the compressor).
            Self::Gzip => String::new(),
            Self::Zstd => format!("\0zstd-{ZSTD_LEVEL}"),
        }
    }

    /// One member of `data`.
    pub(crate) fn member(self, data: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Self::Gzip => Ok(gzip_member(data)),
            Self::Zstd => zstd_member(data),
        }
    }
}

thread_local! {
    static DEFLATER: RefCell<Option<libdeflater::Compressor>> = const { RefCell::new(None) };
}

/// Raw deflate of `data` at [`LEVEL`], with a compressor kept per thread.
fn deflate(data: &[u8]) -> Vec<u8> {
    DEFLATER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = slot.get_or_insert_with(|| {
            // 6 is in libdeflate's range (1-12), so `new` cannot refuse it.
            let level = libdeflater::CompressionLvl::new(LEVEL)
                .unwrap_or_else(|_| libdeflater::CompressionLvl::default());
            libdeflater::Compressor::new(level)
        });
        let mut out = vec![0u8; compressor.deflate_compress_bound(data.len())];
        // The buffer is the compressor's own bound, so it is never too small.
        let written = compressor.deflate_compress(data, &mut out).unwrap_or(0);
        out.truncate(written);
        out
    })
}

/// One gzip member (RFC 1952) of `data`: a header with no name, mtime 0, no extra
/// flags and the "unknown" OS byte; the deflate stream from libdeflate at [`LEVEL`];
/// then the CRC-32 and the length modulo 2^32, little-endian.
pub fn gzip_member(data: &[u8]) -> Vec<u8> {
    let deflated = deflate(data);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// One zstd frame of `data` at [`ZSTD_LEVEL`], with the content size and a checksum.
fn zstd_member(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
    compressor.compress(data)
}

/// A writer that compresses what it is given in [`MEMBER_SIZE`] members, several at
/// once.
pub(crate) struct LayerCompressor<W: Write> {
    out: W,
    compression: Compression,
    buffer: Vec<u8>,
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    wrote_any: bool,
}

/// The gzip layer compressor under its old name.
#[cfg(test)]
pub(crate) type ParallelGzip<W> = LayerCompressor<W>;

impl<W: Write> LayerCompressor<W> {
    /// A gzip compressor.
    #[cfg(test)]
    pub(crate) fn new(out: W) -> Self {
        Self::with(out, Compression::Gzip)
    }

    pub(crate) fn with(out: W, compression: Compression) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            out,
            compression,
            buffer: Vec::with_capacity(MEMBER_SIZE),
            in_flight: VecDeque::new(),
            max_in_flight: cores + 1,
            wrote_any: false,
        }
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(job) = self.in_flight.pop_front() {
            let member = job
                .join()
                .map_err(|_| io::Error::other("a compression thread panicked"))??;
            self.out.write_all(&member)?;
        }
        Ok(())
    }

    fn start_member(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buffer, Vec::with_capacity(MEMBER_SIZE));
        self.wrote_any = true;
        let compression = self.compression;
        self.in_flight
            .push_back(std::thread::spawn(move || compression.member(&data)));
        while self.in_flight.len() >= self.max_in_flight {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Compresses what is buffered, writes every member in order, returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.buffer.is_empty() || !self.wrote_any {
            self.start_member()?;
        }
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for LayerCompressor<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            let room = MEMBER_SIZE - self.buffer.len();
            let take = room.min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == MEMBER_SIZE {
                self.start_member()?;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn compress(data: &[u8], pieces: usize) -> Vec<u8> {
        compress_as(data, pieces, Compression::Gzip)
    }

    fn compress_as(data: &[u8], pieces: usize, compression: Compression) -> Vec<u8> {
        let mut writer = LayerCompressor::with(Vec::new(), compression);
        for piece in data.chunks(data.len().div_ceil(pieces).max(1)) {
            writer.write_all(piece).expect("write");
        }
        writer.finish().expect("finish")
    }

    #[test]
    fn members_decode_to_the_input_and_do_not_depend_on_write_sizes() {
        let data: Vec<u8> = (0..(MEMBER_SIZE * 2 + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let once = compress(&data, 1);
        assert_eq!(
            once,
            compress(&data, 977),
            "write boundaries must not matter"
        );
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(&once[..])
            .read_to_end(&mut decoded)
            .expect("decode");
        assert_eq!(decoded, data);
    }

    #[test]
    fn a_small_input_is_one_ordinary_gzip_stream() {
        let data = b"small layer".to_vec();
        let compressed = compress(&data, 1);
        assert_eq!(compressed, gzip_member(&data));
        let mut single = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut single)
            .expect("a plain gzip reader reads it");
        assert_eq!(single, data);
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(&compress(b"", 1)[..])
            .read_to_end(&mut decoded)
            .expect("empty input is a valid stream");
        assert!(decoded.is_empty());
    }

    #[test]
    fn zstd_layers_are_frames_that_decode_to_the_input() {
        let data: Vec<u8> = (0..(MEMBER_SIZE + 777)).map(|i| (i % 13) as u8).collect();
        let once = compress_as(&data, 1, Compression::Zstd);
        assert_eq!(once, compress_as(&data, 31, Compression::Zstd));
        assert_ne!(once, compress(&data, 1));
        // A pure-Rust reader (not the encoder's own library) reads every frame.
        let mut decoded = Vec::new();
        let mut rest = &once[..];
        while !rest.is_empty() {
            let mut decoder =
                ruzstd::decoding::StreamingDecoder::new(&mut rest).expect("a zstd frame");
            decoder.read_to_end(&mut decoded).expect("decode");
        }
        assert_eq!(decoded, data);
        assert_eq!(
            Compression::Zstd.media_type(),
            crate::oci::ZSTD_LAYER_MEDIA_TYPE
        );
        assert_eq!(Compression::from_name("zstd"), Some(Compression::Zstd));
        assert_eq!(Compression::from_name("xz"), None);
    }

    /// The pinned compressors' bytes for a fixed input: a change of library version
    /// or level that changes layer bytes fails here first.
    #[test]
    fn pinned_member_bytes() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("line {} {}\n", i % 97, i % 13).into_bytes())
            .collect();
        let gzip = crate::digest::Digest::of(&gzip_member(&data));
        let zstd = crate::digest::Digest::of(&Compression::Zstd.member(&data).expect("zstd"));
        assert_eq!(
            (gzip.to_string(), zstd.to_string()),
            (
                "sha256:220381aa66ff97f175c5a0ef6af4e68f112d02c85af7e02b92982db81944f043"
                    .to_string(),
                "sha256:3dce042579634641aba04fa7921a44d1ffdb3101182e546f569d64863306715f"
                    .to_string()
            )
        );
    }
}
