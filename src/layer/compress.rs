//! The one pinned compressor. Every blob airlock compresses goes through here, so
//! the compressed bytes (and therefore digests) depend on nothing but the input.
//!
//! Layers are compressed as a sequence of independent gzip members, one per
//! [`MEMBER_SIZE`] bytes of tar, compressed in parallel and written in order (RFC 1952
//! allows several members; every gzip reader concatenates them). The member size is
//! fixed, so the bytes do not depend on how many cores the machine has. A layer smaller
//! than one member is a single ordinary gzip stream.
//!
//! Deflate is miniz_oxide's, called directly and pinned: flate2's backend is chosen by
//! feature unification across the dependency tree, so it never writes layer bytes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// Media type of the layers airlock writes.
pub(crate) const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Uncompressed bytes per gzip member. Part of the format: changing it changes digests.
pub(super) const MEMBER_SIZE: usize = 4 << 20;

/// The deflate level of every layer (miniz_oxide's scale, like zlib's).
const LEVEL: u8 = 6;

/// One gzip member (RFC 1952) of `data`: a header with no name, mtime 0, no extra
/// flags and the "unknown" OS byte; the deflate stream from miniz_oxide at [`LEVEL`];
/// then the CRC-32 and the length modulo 2^32, little-endian.
pub fn gzip_member(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn compress_member(data: Vec<u8>) -> io::Result<Vec<u8>> {
    Ok(gzip_member(&data))
}

/// A writer that gzips what it is given in [`MEMBER_SIZE`] members, several at once.
pub(crate) struct ParallelGzip<W: Write> {
    out: W,
    buffer: Vec<u8>,
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    wrote_any: bool,
}

impl<W: Write> ParallelGzip<W> {
    pub(crate) fn new(out: W) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            out,
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
        self.in_flight
            .push_back(std::thread::spawn(move || compress_member(data)));
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

impl<W: Write> Write for ParallelGzip<W> {
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
        let mut writer = ParallelGzip::new(Vec::new());
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
}
