//! Test support: tiny `.deb` files built in memory (tar, `ar`, gzip, xz and zstd
//! members), shared by the reader's and the installer's tests.

use std::io::Write;

/// A tar entry for the test builder. Names are written raw, so escaping names
/// can be made on purpose.
pub(crate) struct E<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: tar::EntryType,
    pub(crate) mode: u32,
    pub(crate) link: &'a str,
    pub(crate) data: &'a [u8],
}

pub(crate) fn file<'a>(name: &'a str, mode: u32, data: &'a [u8]) -> E<'a> {
    E {
        name,
        kind: tar::EntryType::Regular,
        mode,
        link: "",
        data,
    }
}
pub(crate) fn dir(name: &str) -> E<'_> {
    E {
        name,
        kind: tar::EntryType::Directory,
        mode: 0o755,
        link: "",
        data: b"",
    }
}
pub(crate) fn symlink<'a>(name: &'a str, link: &'a str) -> E<'a> {
    E {
        name,
        kind: tar::EntryType::Symlink,
        mode: 0o777,
        link,
        data: b"",
    }
}
pub(crate) fn hardlink<'a>(name: &'a str, link: &'a str) -> E<'a> {
    E {
        name,
        kind: tar::EntryType::Link,
        mode: 0o755,
        link,
        data: b"",
    }
}

pub(crate) fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        old.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(e.data.len() as u64);
        h.set_cksum();
        b.append(&h, e.data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn ar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            "100644",
            data.len()
        );
        assert_eq!(header.len(), 60);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
    let mut w =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}
pub(crate) fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// A `.deb` from a control tar and a data tar, compressed as the member names say.
pub(crate) fn deb_of(control: &[u8], control_name: &str, data: &[u8], data_name: &str) -> Vec<u8> {
    let pack = |name: &str, bytes: &[u8]| match name.rsplit('.').next() {
        Some("gz") => gz(bytes),
        Some("xz") => xz(bytes),
        Some("zst") => zst(bytes),
        _ => bytes.to_vec(),
    };
    ar_of(&[
        ("debian-binary", b"2.0\n".to_vec()),
        (control_name, pack(control_name, control)),
        (data_name, pack(data_name, data)),
    ])
}
