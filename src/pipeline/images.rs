//! The images a multi-stage Dockerfile reads besides its base, pinned in the lock
//! (`[[images]]`) the way the base is: an earlier stage's `FROM` (of a stage the last
//! one copies from, directly or through another stage) and every `COPY
//! --from=<image>`. Each is loaded by the digest the lock pins (from the store when
//! it is there) unless `--upgrade-base`; one the lock lacks is resolved by its tag
//! and pinned, except under `--locked`, which fails naming the line before any pull.
//! An image named like the last stage's base is pinned by `[base]`.

use std::collections::{BTreeMap, BTreeSet};

use super::BuildError;
use super::load::Session;
use super::options::{BuildOptions, LockMode, Reporter};
use crate::image::{SCRATCH, load_image};
use crate::lock::{LockError, LockedImage, Lockfile, images_drift};
use crate::project::dockerfile::{CopyFrom, Dockerfile, Instruction, InstructionKind};

/// The images the build reads besides its base, each with the lines that read it
/// (sorted): the `FROM` line of each stage the last stage copies from (directly or
/// through other stages) and each `COPY --from=<image>`.
pub(super) fn used_images(dockerfile: &Dockerfile) -> BTreeMap<String, Vec<usize>> {
    let mut used: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut visited = BTreeSet::new();
    let mut pending: Vec<&[Instruction]> = vec![&dockerfile.instructions];
    while let Some(instructions) = pending.pop() {
        for instruction in instructions {
            let InstructionKind::Copy(copy) = &instruction.kind else {
                continue;
            };
            match &copy.from {
                Some(CopyFrom::Image(reference)) => used
                    .entry(reference.clone())
                    .or_default()
                    .push(instruction.line),
                Some(CopyFrom::Stage(index)) if visited.insert(*index) => {
                    if let Some(stage) = dockerfile.stages.get(*index) {
                        used.entry(stage.from.image.clone())
                            .or_default()
                            .push(stage.from.line);
                        pending.push(&stage.instructions);
                    }
                }
                Some(CopyFrom::Stage(_)) | None => {}
            }
        }
    }
    used.remove(SCRATCH);
    used.remove(&dockerfile.from.image);
    for lines in used.values_mut() {
        lines.sort_unstable();
        lines.dedup();
    }
    used
}

/// Fills `wanted.images`: each image [`used_images`] finds, loaded into the store by
/// the digest the lock on disk pins (unless `--upgrade-base`) or else by its tag.
/// Under `--locked` a Dockerfile that reads an image the lock lacks, or no longer
/// reads one it pins, fails first, naming the line.
pub(super) fn pin_images(
    session: &Session,
    wanted: &mut Lockfile,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let used = used_images(&session.project.dockerfile);
    let on_disk = session
        .on_disk
        .as_ref()
        .map(|lock| lock.images.as_slice())
        .unwrap_or_default();
    if options.lock_mode == LockMode::Locked {
        let reason = match &session.on_disk {
            None if !used.is_empty() => Some("it does not exist".to_string()),
            None => None,
            Some(_) => images_drift(&used, on_disk),
        };
        if let Some(reason) = reason {
            return Err(LockError::Stale {
                path: session.lock_path.clone(),
                reason,
            }
            .into());
        }
    }
    let mut images = Vec::new();
    for (reference, lines) in used {
        let pinned = on_disk
            .iter()
            .find(|image| image.reference == reference)
            .filter(|_| !options.upgrade_base)
            .map(|image| image.manifest.clone());
        if pinned.is_none() {
            reporter.step(&format!("resolving the image `{reference}`"));
        }
        let (image, _) = load_image(
            &session.store,
            &session.project,
            options.base_layout.as_deref(),
            &session.remote,
            &session.runtime,
            &reference,
            pinned.as_ref(),
        )
        .map_err(|source| BuildError::ImageAt {
            line: lines.first().copied().unwrap_or(0),
            source: Box::new(source),
        })?;
        images.push(LockedImage {
            reference,
            manifest: image.manifest_digest,
            lines,
        });
    }
    wanted.images = images;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Only the stages the last one reads count, each by its `FROM` line; `COPY
    /// --from=<image>` by its own lines; the base and `scratch` are not listed.
    #[test]
    fn item13_used_images_follow_the_stages_the_last_one_reads() {
        let text = "FROM tools.example/a:1 AS a\nFROM tools.example/unused:1 AS unused\nFROM scratch AS empty\nFROM tools.example/b:1 AS b\nCOPY --from=a /x /x\nCOPY --from=tools.example/c:1 /y /y\nFROM runtime.example/base:1\nCOPY --from=b /x /x\nCOPY --from=empty /z /z\nCOPY --from=tools.example/c:1 /y /y2\nCOPY --from=runtime.example/base:1 /w /w\n";
        let dockerfile = crate::project::dockerfile::parse(text, &BTreeMap::new()).expect("parses");
        let used = used_images(&dockerfile);
        let expected: BTreeMap<String, Vec<usize>> = [
            ("tools.example/a:1", vec![1]),
            ("tools.example/b:1", vec![4]),
            ("tools.example/c:1", vec![6, 10]),
        ]
        .into_iter()
        .map(|(r, l)| (r.to_string(), l))
        .collect();
        assert_eq!(used, expected);
    }
}
