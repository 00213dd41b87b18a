//! Where a symlink really leads inside a tree: the one resolver behind the project
//! walk, DAG bundles and bundle unpacking, and (as a chroot sees it) behind finding a
//! command inside an unpacked image.
//!
//! `..` is taken the way the kernel takes it, after the links before it are
//! followed: with `s -> .`, `s/s/../..` climbs two levels above `s`'s directory, not
//! zero. So resolution walks the link's own directory and then its target one
//! component at a time, asking the tree being checked what each component is and
//! following the links inside it (at most [`MAX_LINKS`] of them). A component the
//! tree does not hold is taken as a plain directory name, so that a link that only
//! dangles today cannot climb out once something appears there.
//!
//! A leaf: it knows nothing of files, layers or bundles; each caller says what a path
//! is in its tree.

/// Links followed while resolving one link, as Linux allows (`MAXSYMLINKS`).
pub(crate) const MAX_LINKS: usize = 40;
/// Path components walked while resolving one link (a bound on the work a hostile
/// tree can ask for; real links take a handful).
pub(crate) const MAX_STEPS: usize = 1024;

/// What a path is in the tree being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File,
    Symlink(String),
    /// Not in the tree.
    Missing,
    /// The tree could not say (an I/O error): resolution stops, refused.
    Unreadable,
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkError {
    Absolute,
    Escapes,
    TooManyLinks,
    Unreadable,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for LinkError {}

impl LinkError {
    /// Why, as a clause (`the symlink … is refused: <reason>`).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Absolute => "it leads to an absolute path",
            Self::Escapes => "it leads outside once the links on its way are followed",
            Self::TooManyLinks => "it takes too many links or steps to resolve, or the links loop",
            Self::Unreadable => "a path on its way cannot be read",
        }
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
}

/// Resolves the symlink at `link` (relative to the tree's root, `/`-separated) whose
/// target is `target`; `lookup` says what a root-relative path is. Returns the
/// root-relative path the link really leads to (`""` for the root itself).
pub(crate) fn resolve_link(
    link: &str,
    target: &str,
    lookup: impl FnMut(&str) -> Node,
) -> Result<String, LinkError> {
    if target.starts_with('/') {
        return Err(LinkError::Absolute);
    }
    let dir = link.rsplit_once('/').map_or("", |(dir, _)| dir);
    // Components still to walk, next one last.
    let mut pending: Vec<String> = components(target).rev().map(str::to_string).collect();
    pending.extend(components(dir).rev().map(str::to_string));
    walk(pending, Root::Refuse, lookup)
}

/// Where the absolute path `path` leads inside a root filesystem, the way a process
/// chrooted there would see it: an absolute link target starts again at the root and
/// `..` at the root stays there. Returns the root-relative path (`""` for the root).
pub(crate) fn resolve_in_root(
    path: &str,
    lookup: impl FnMut(&str) -> Node,
) -> Result<String, LinkError> {
    walk(
        components(path).rev().map(str::to_string).collect(),
        Root::Chroot,
        lookup,
    )
}

/// What the root means to a walk: a boundary a link may not cross, or a chroot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    Refuse,
    Chroot,
}

/// Walks `pending` (next component last) from the root, following the links
/// `lookup` reports, within [`MAX_LINKS`] and [`MAX_STEPS`].
fn walk(
    mut pending: Vec<String>,
    root: Root,
    mut lookup: impl FnMut(&str) -> Node,
) -> Result<String, LinkError> {
    let mut resolved: Vec<String> = Vec::new();
    let mut followed = 0;
    let mut steps = 0;
    while let Some(part) = pending.pop() {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(LinkError::TooManyLinks);
        }
        if part == ".." {
            if resolved.pop().is_none() && root == Root::Refuse {
                return Err(LinkError::Escapes);
            }
            continue;
        }
        resolved.push(part);
        let path = resolved.join("/");
        match lookup(&path) {
            Node::Symlink(next) => {
                followed += 1;
                if followed > MAX_LINKS {
                    return Err(LinkError::TooManyLinks);
                }
                resolved.pop();
                if next.starts_with('/') {
                    if root == Root::Refuse {
                        return Err(LinkError::Absolute);
                    }
                    resolved.clear();
                }
                pending.extend(components(&next).rev().map(str::to_string));
            }
            Node::Unreadable => return Err(LinkError::Unreadable),
            Node::Dir | Node::File | Node::Missing => {}
        }
    }
    Ok(resolved.join("/"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn tree(entries: &[(&str, Node)]) -> impl Fn(&str) -> Node + use<> {
        let map: BTreeMap<String, Node> = entries
            .iter()
            .map(|(path, node)| (path.to_string(), node.clone()))
            .collect();
        move |path: &str| map.get(path).cloned().unwrap_or(Node::Missing)
    }

    fn link(to: &str) -> Node {
        Node::Symlink(to.to_string())
    }

    #[test]
    fn plain_targets_resolve_like_paths() {
        let t = tree(&[("sub", Node::Dir), ("sub/a.py", Node::File)]);
        assert_eq!(
            resolve_link("b.py", "sub/a.py", &t).as_deref(),
            Ok("sub/a.py")
        );
        assert_eq!(resolve_link("sub/c", "../b.py", &t).as_deref(), Ok("b.py"));
        assert_eq!(
            resolve_link("sub/c", "./a.py", &t).as_deref(),
            Ok("sub/a.py")
        );
        assert_eq!(resolve_link("c", ".", &t).as_deref(), Ok(""));
        assert_eq!(resolve_link("c", "../x", &t), Err(LinkError::Escapes));
        assert_eq!(
            resolve_link("sub/c", "../../x", &t),
            Err(LinkError::Escapes)
        );
        assert_eq!(
            resolve_link("c", "/etc/passwd", &t),
            Err(LinkError::Absolute)
        );
    }

    #[test]
    fn symlink_through_dot_link_is_refused() {
        let t = tree(&[("s", link("."))]);
        let target = "s/s/s/s/s/s/s/s/s/s/../../../../../../../../../..";
        assert_eq!(resolve_link("x", target, &t), Err(LinkError::Escapes));
        // Through `s` and staying put is fine.
        assert_eq!(resolve_link("x", "s/s/a.py", &t).as_deref(), Ok("a.py"));
        // A link to the parent directory, then up.
        let t = tree(&[("d", Node::Dir), ("d/u", link(".."))]);
        assert!(resolve_link("x", "d/u/../..", &t).is_err());
        assert_eq!(resolve_link("x", "d/u/d", &t).as_deref(), Ok("d"));
    }

    #[test]
    fn the_links_own_directory_is_resolved_too() {
        // `d -> deep/er`: a link at `d/x` lives in `deep/er`, so `../..` is the root.
        let t = tree(&[
            ("deep", Node::Dir),
            ("deep/er", Node::Dir),
            ("d", link("deep/er")),
        ]);
        assert_eq!(resolve_link("d/x", "../..", &t).as_deref(), Ok(""));
        assert!(resolve_link("d/x", "../../..", &t).is_err());
    }

    #[test]
    fn absolute_links_on_the_way_are_refused() {
        let t = tree(&[("abs", link("/")), ("ok", Node::Dir)]);
        assert_eq!(resolve_link("x", "abs/etc", &t), Err(LinkError::Absolute));
    }

    #[test]
    fn loops_and_long_chains_stop() {
        let t = tree(&[("a", link("b")), ("b", link("a"))]);
        assert_eq!(resolve_link("x", "a", &t), Err(LinkError::TooManyLinks));
        let t = tree(&[("me", link("me"))]);
        assert_eq!(resolve_link("x", "me/y", &t), Err(LinkError::TooManyLinks));
        let long = "a/".repeat(MAX_STEPS + 1);
        assert_eq!(
            resolve_link("x", &long, tree(&[])),
            Err(LinkError::TooManyLinks)
        );
        let t = tree(&[("f", Node::Unreadable)]);
        assert_eq!(resolve_link("x", "f/y", &t), Err(LinkError::Unreadable));
    }

    #[test]
    fn missing_components_count_as_directories() {
        let t = tree(&[]);
        assert_eq!(
            resolve_link("x", "gone/../y", &t).as_deref(),
            Ok("y"),
            "a dangling path is taken textually"
        );
        assert!(resolve_link("x", "gone/../../y", &t).is_err());
    }
}
