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

pub(crate) use archive::{ARCH, ArchiveClient, ArchiveError, DebRequest, Repository};
pub(crate) use control::ControlError;
pub(crate) use deb::{ControlInfo, Deb, DebError};
pub(crate) use install::{
    ContentSink, InstallBase, InstallError, LayerFile, LayerKind, SkippedScript, Unpacked,
    add_missing_parents, assemble, install, unpack,
};
pub(crate) use keyring::{Keyring, KeyringError};
pub(crate) use packages_txt::{PackageRequest, PackagesTxtError, parse_packages_txt};
pub(crate) use relation::RelationError;
pub(crate) use release::ReleaseError;
pub(crate) use resolve::{ResolveError, resolve};
pub(crate) use sources::{
    KeyRef, SignedBy, SourcesError, parse_deb822_sources, parse_sources_list,
};
pub(crate) use universe::{Installed, Universe, UniverseError};
pub(crate) use version::VersionError;
