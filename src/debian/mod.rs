//! Debian: pure format parsers for `packages.txt`, versions, control paragraphs,
//! relation fields, `Release` files, apt sources and `.deb` archives. No network and
//! no filesystem here. Above the leaves: `universe` (indices and the installed
//! set), `resolve` (apt-like resolution) and `install` (unpacking `.deb`s into a
//! layer description with the dpkg database); the archive client sits above those.

mod archive;
mod control;
mod deb;
mod install;
mod keyring;
mod md5;
mod packages_txt;
mod relation;
mod release;
mod resolve;
mod sources;
#[cfg(test)]
mod testdeb;
mod universe;
mod version;

pub use archive::{
    ARCH, ArchiveClient, ArchiveError, DebRequest, FetchedRelease, Repository, decompress,
};
pub use control::{ControlError, Field, Paragraph, Paragraphs, paragraphs};
pub use deb::{
    Conffile, ControlInfo, DataEntry, DataKind, Deb, DebError, Md5Sum, NormalizedPath,
    check_member_path, check_symlink_target,
};
pub use install::{
    ContentSink, InstallBase, InstallError, Layer, LayerFile, LayerKind, SkippedScript, install,
};
pub use keyring::{Keyring, KeyringError};
pub use packages_txt::{PackageArch, PackageRequest, PackagesTxtError, parse_packages_txt};
pub use relation::{
    ArchRestriction, Dependency, ProfileTerm, Provide, Relation, RelationError, VersionConstraint,
    VersionOp, parse_provides, parse_relations,
};
pub use release::{FileHash, Release, ReleaseError, canonical_signed_text, split_clearsigned};
pub use resolve::{ResolveError, ResolvedPackage, resolve};
pub use sources::{
    AptSource, KeyRef, SignedBy, SourcesError, parse_deb822_sources, parse_sources_list,
};
pub use universe::{Installed, MultiArch, PackageVersion, Universe, UniverseError};
pub use version::{Version, VersionError};
