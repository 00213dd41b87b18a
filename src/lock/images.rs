//! The images of `airlock.lock` besides the base (`[[images]]`): each image an
//! earlier stage's `FROM` or a `COPY --from=<image>` reads, by the reference the
//! Dockerfile gives (after `ARG` substitution) and the manifest digest it resolved
//! to, with the lines that read it. A later build takes the pinned manifest whatever
//! the tag says now, as it does for `[base]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One image pinned by manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedImage {
    /// The image as the Dockerfile names it, after `ARG` substitution.
    pub reference: String,
    /// The manifest digest it resolved to.
    pub manifest: Digest,
    /// The Dockerfile lines that read it (a stage's `FROM`, a `COPY --from`).
    pub lines: Vec<usize>,
}

/// Why the images `used` (reference → the lines that read it) do not match the
/// lock's `pinned` ones, if they do not: an image the lock lacks (the first by
/// line), one it pins that nothing reads any more, or one read at other lines.
pub(crate) fn images_drift(
    used: &BTreeMap<String, Vec<usize>>,
    pinned: &[LockedImage],
) -> Option<String> {
    let find = |reference: &str| pinned.iter().find(|i| i.reference == reference);
    let missing = used
        .iter()
        .filter(|(reference, _)| find(reference).is_none())
        .min_by_key(|(_, lines)| lines.first().copied().unwrap_or(0));
    if let Some((reference, lines)) = missing {
        return Some(format!(
            "Dockerfile:{} reads the image `{reference}`, which it does not pin",
            lines.first().copied().unwrap_or(0)
        ));
    }
    if let Some(gone) = pinned.iter().find(|i| !used.contains_key(&i.reference)) {
        return Some(format!(
            "it pins the image `{}` (for Dockerfile:{}), which the Dockerfile no longer reads",
            gone.reference,
            join_lines(&gone.lines)
        ));
    }
    pinned
        .iter()
        .find_map(|image| match used.get(&image.reference) {
            Some(lines) if lines != &image.lines => Some(format!(
                "the image `{}` is now read at Dockerfile:{}, it has Dockerfile:{}",
                image.reference,
                join_lines(lines),
                join_lines(&image.lines)
            )),
            _ => None,
        })
}

fn join_lines(lines: &[usize]) -> String {
    lines
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Why `on_disk`'s images differ from `wanted`'s (both sorted by reference).
pub(crate) fn images_staleness(on_disk: &[LockedImage], wanted: &[LockedImage]) -> Option<String> {
    let used: BTreeMap<String, Vec<usize>> = wanted
        .iter()
        .map(|i| (i.reference.clone(), i.lines.clone()))
        .collect();
    if let Some(reason) = images_drift(&used, on_disk) {
        return Some(reason);
    }
    wanted.iter().find_map(|image| {
        let old = on_disk.iter().find(|i| i.reference == image.reference)?;
        (old.manifest != image.manifest).then(|| {
            format!(
                "`{}` now resolves to `{}`, the lock has `{}`",
                image.reference, image.manifest, old.manifest
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{LockedBase, Lockfile};

    fn image(reference: &str, manifest: &[u8], lines: &[usize]) -> LockedImage {
        LockedImage {
            reference: reference.into(),
            manifest: Digest::of(manifest),
            lines: lines.to_vec(),
        }
    }

    /// `[[images]]` round-trips; a lock without it reads as one with none and its
    /// text is what it was.
    #[test]
    fn item13_images_in_the_lock_round_trip_and_old_locks_read() {
        let mut lock = Lockfile::new(
            LockedBase {
                reference: "example/runtime:1".into(),
                manifest: Digest::of(b"m"),
            },
            BTreeMap::new(),
        );
        let old = lock.to_text();
        assert!(!old.contains("images"), "{old}");
        lock.images = vec![image("example/builder:1", b"b", &[2])];
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("airlock.lock");
        lock.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("[[images]]\nreference = \"example/builder:1\"\n"),
            "{text}"
        );
        assert_eq!(Lockfile::read(&path).expect("read"), Some(lock));
        std::fs::write(&path, old).expect("write old");
        let read = Lockfile::read(&path).expect("read").expect("present");
        assert!(read.images.is_empty());
    }

    #[test]
    fn item13_image_drift_names_the_line() {
        let pinned = vec![image("a:1", b"a", &[3]), image("b:1", b"b", &[9])];
        let used = |entries: &[(&str, &[usize])]| -> BTreeMap<String, Vec<usize>> {
            entries
                .iter()
                .map(|(r, l)| (r.to_string(), l.to_vec()))
                .collect()
        };
        assert_eq!(
            images_drift(&used(&[("a:1", &[3]), ("b:1", &[9])]), &pinned),
            None
        );
        let reason = images_drift(
            &used(&[("a:1", &[3]), ("b:1", &[9]), ("c:1", &[12])]),
            &pinned,
        )
        .expect("missing");
        assert!(
            reason.contains("Dockerfile:12") && reason.contains("`c:1`"),
            "{reason}"
        );
        let reason = images_drift(&used(&[("a:1", &[3])]), &pinned).expect("gone");
        assert!(
            reason.contains("`b:1`") && reason.contains("no longer"),
            "{reason}"
        );
        let reason = images_drift(&used(&[("a:1", &[4]), ("b:1", &[9])]), &pinned).expect("moved");
        assert!(reason.contains("Dockerfile:4"), "{reason}");
        let moved = vec![image("a:1", b"a2", &[3]), image("b:1", b"b", &[9])];
        let reason = images_staleness(&pinned, &moved).expect("digest");
        assert!(reason.contains("now resolves"), "{reason}");
    }
}
