//! OCI whiteouts (`.wh.NAME` hides `NAME`, `.wh..wh..opq` empties its directory), as
//! both readers of base layers (the facts and the tier-2 root filesystem) apply them.

/// The opaque whiteout: hides everything its directory held in lower layers.
pub(crate) const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// A whiteout that names no file (`.wh.`, `.wh..`, `.wh...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NamelessWhiteout;

impl NamelessWhiteout {
    /// The rule such an entry breaks, worded once for every reader.
    pub(crate) const RULE: &'static str =
        "a whiteout (`.wh.NAME`) must name a file in its directory, not `.`, `..` or nothing";
}

/// What a whiteout entry named `name` hides: `None` when it is not a whiteout,
/// `Some(Err(NamelessWhiteout))` when it names no file.
pub(crate) fn whiteout_target(name: &str) -> Option<Result<&str, NamelessWhiteout>> {
    let hidden = name.strip_prefix(".wh.")?;
    Some(if hidden.is_empty() || hidden == "." || hidden == ".." {
        Err(NamelessWhiteout)
    } else {
        Ok(hidden)
    })
}

/// What one entry of a layer does to the layers below it, for readers that apply
/// layers to a map of paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayerChange {
    /// `.wh..wh..opq` in `dir` (`""` for the root): the directory's lower contents go.
    Opaque { dir: String },
    /// `.wh.NAME`: `target` (and everything below it) goes.
    Hide { target: String },
    /// An ordinary entry written at `path` (`""` for the root itself).
    Write { path: String },
}

/// `raw` as a layer path without `./`, leading or trailing `/`.
pub fn layer_path(raw: &str) -> String {
    let trimmed = raw.trim_start_matches("./").trim_start_matches('/');
    trimmed.trim_end_matches('/').to_string()
}

/// What the layer entry at `raw` does; `Err` for a whiteout that names no file.
pub(crate) fn layer_change(raw: &str) -> Result<LayerChange, NamelessWhiteout> {
    let path = layer_path(raw);
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path.as_str()),
    };
    if name == OPAQUE_WHITEOUT {
        return Ok(LayerChange::Opaque {
            dir: dir.to_string(),
        });
    }
    match whiteout_target(name) {
        Some(Ok(hidden)) => Ok(LayerChange::Hide {
            target: if dir.is_empty() {
                hidden.to_string()
            } else {
                format!("{dir}/{hidden}")
            },
        }),
        Some(Err(nameless)) => Err(nameless),
        None => Ok(LayerChange::Write { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_told_apart() {
        assert_eq!(
            layer_change("./usr/lib/.wh..wh..opq"),
            Ok(LayerChange::Opaque {
                dir: "usr/lib".into()
            })
        );
        assert_eq!(
            layer_change(".wh..wh..opq"),
            Ok(LayerChange::Opaque { dir: String::new() })
        );
        assert_eq!(
            layer_change("etc/.wh.motd"),
            Ok(LayerChange::Hide {
                target: "etc/motd".into()
            })
        );
        assert_eq!(
            layer_change("/.wh.opt"),
            Ok(LayerChange::Hide {
                target: "opt".into()
            })
        );
        assert_eq!(
            layer_change("./etc/passwd"),
            Ok(LayerChange::Write {
                path: "etc/passwd".into()
            })
        );
        assert_eq!(
            layer_change("./"),
            Ok(LayerChange::Write {
                path: String::new()
            })
        );
        for nameless in ["etc/.wh.", "etc/.wh..", ".wh..."] {
            assert_eq!(layer_change(nameless), Err(NamelessWhiteout), "{nameless}");
        }
    }
}
