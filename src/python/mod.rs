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
mod simple_api;
mod tags;
mod wheel_install;
mod wheel_name;

pub use download::{DownloadError, HashSource, WheelFetch, fetch_wheels, with_index_credentials};
pub use environment::{
    BASE_CONSTRAINTS, BaseView, EnvironmentError, InstalledDist, PythonEnvironment,
};
pub use find_links::{FindLinksError, list_wheel_dir};
pub use index_client::{
    BlockingSource, IndexClient, IndexClientOptions, IndexError, Project, resolve_with_index,
    split_credentials,
};
pub use index_config::{
    BasePip, IndexConfigError, IndexSelection, IndexSource, NETRC, PIP_CONFIG_FILE,
    base_index_sources, netrc_credentials, netrc_path, pip_config_files, pip_config_indexes,
    pip_default_index, select_indexes, with_netrc,
};
pub use index_url::{IndexUrl, IndexUrlError, redact_credentials};
pub use metadata::{CoreMetadata, MetadataError};
pub use requirements::{
    EnvIndexes, FindLinks, FsSource, Hash, HashAlgorithm, Location, PIP_EXTRA_INDEX_URL,
    PIP_INDEX_URL, RequirementEntry, RequirementsError, RequirementsFile, RequirementsSource,
    has_literal_credentials, index_urls_from_env,
};
pub use resolver::{
    BaseDist, BaseUpgrade, Candidate, DistributionSource, NoWheelPackage, RequestedBy, Resolution,
    ResolveError, ResolveInput, ResolvedDist, SourceError, Upgrade, VersionRanges, WheelCandidate,
    package_name, resolve, tags_summary,
};
pub use simple_api::{
    ACCEPT, DistFile, HTML_CONTENT_TYPE, JSON_CONTENT_TYPE, MetadataAvailability, ProjectPage,
    SimpleApiError, Timestamp, Yanked, parse_html, parse_json, parse_project_page,
};
pub use tags::{Arch, CompatibleTags, Implementation, Tag, TagError, Target};
pub use wheel_install::{
    INSTALLER, InstallTarget, InstalledFile, WheelInstallError, check_wheel_entries, install_wheel,
};
pub use wheel_name::{BuildTag, WheelName, WheelNameError, normalize_name};
