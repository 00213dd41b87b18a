//! OCI whiteouts (`.wh.NAME` hides `NAME`, `.wh..wh..opq` empties its directory), as
//! both readers of base layers (the facts and the tier-2 root filesystem) apply them.

/// The opaque whiteout: hides everything its directory held in lower layers.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// A whiteout that names no file (`.wh.`, `.wh..`, `.wh...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamelessWhiteout;

impl NamelessWhiteout {
    /// The rule such an entry breaks, worded once for every reader.
    pub const RULE: &'static str =
        "a whiteout (`.wh.NAME`) must name a file in its directory, not `.`, `..` or nothing";
}

/// What a whiteout entry named `name` hides: `None` when it is not a whiteout,
/// `Some(Err(NamelessWhiteout))` when it names no file.
pub fn whiteout_target(name: &str) -> Option<Result<&str, NamelessWhiteout>> {
    let hidden = name.strip_prefix(".wh.")?;
    Some(if hidden.is_empty() || hidden == "." || hidden == ".." {
        Err(NamelessWhiteout)
    } else {
        Ok(hidden)
    })
}
