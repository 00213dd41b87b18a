//! Python packaging: requirements files, wheel names and tags, the simple
//! repository API, core metadata, the resolver, the base's Python environment,
//! index discovery, wheel downloads and wheel installation. Format parsers are pure
//! leaves; the index client, downloads and the resolver sit above them.

mod download;
mod environment;
mod find_links;
mod index_client;
mod index_config;
mod index_url;
mod metadata;
mod requirements;
mod resolver;
mod sdist;
mod simple_api;
mod tags;
mod venv;
mod wheel_install;
mod wheel_name;

pub(crate) use download::{
    DownloadError, HashSource, WheelFetch, fetch_wheels, with_index_credentials,
};
pub(crate) use environment::{BaseView, EnvironmentError, PythonEnvironment};
pub(crate) use find_links::{FindLinksError, list_wheel_dir};
pub(crate) use index_client::{
    IndexClient, IndexClientOptions, IndexError, resolve_with_index, split_credentials,
};
pub(crate) use index_config::{
    BasePip, IndexConfigError, IndexSource, base_index_sources, netrc_path, pip_config_files,
    pip_config_indexes, pip_config_values, select_indexes, with_netrc,
};
pub(crate) use index_url::{IndexUrl, IndexUrlError};
pub(crate) use metadata::{CoreMetadata, MetadataError};
pub(crate) use requirements::{
    FindLinks, FsSource, HashAlgorithm, Location, RequirementsError, RequirementsFile,
    RequirementsSource, has_literal_credentials, index_urls_from_env,
};
pub(crate) use resolver::{
    BaseDist, ResolveError, ResolveInput, SourceError, Upgrade, VersionRanges, WheelCandidate,
    package_name,
};
pub(crate) use sdist::{
    BinaryPolicy, BuildKeyInput, BuildSystem, DRIVER, SdistError, SdistHook, build_key,
    build_system, static_metadata, unpack as unpack_sdist, wheel_metadata,
};
pub(crate) use simple_api::{DistFile, SimpleApiError, Timestamp};
pub(crate) use tags::TagError;
pub(crate) use venv::{VenvEntry, VenvError, VenvSpec, make_venv, venv_target};
pub use wheel_install::{InstallTarget, InstalledFile, install_wheel};
pub(crate) use wheel_install::{
    WheelInstallError, WheelPlan, check_wheel_entries, open_wheel, plan_wheel, read_planned,
};
pub(crate) use wheel_name::{WheelNameError, normalize_name};
