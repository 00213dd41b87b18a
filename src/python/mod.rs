//! Python packaging: requirements files, wheel names and tags, the simple
//! repository API, core metadata and wheel installation. Pure leaves here; clients
//! and the resolver sit above them.

mod index_client;
mod index_url;
mod metadata;
mod requirements;
mod resolver;
mod simple_api;
mod tags;
mod wheel_install;
mod wheel_name;

pub use index_client::{
    BlockingSource, IndexClient, IndexClientOptions, IndexError, Project, resolve_with_index,
};
pub use index_url::{IndexUrl, IndexUrlError, redact_credentials};
pub use metadata::{CoreMetadata, MetadataError};
pub use requirements::{
    EnvIndexes, FindLinks, FsSource, Hash, HashAlgorithm, Location, PIP_EXTRA_INDEX_URL,
    PIP_INDEX_URL, RequirementEntry, RequirementsError, RequirementsFile, RequirementsSource,
    index_urls_from_env,
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
    INSTALLER, InstallTarget, InstalledFile, WheelInstallError, install_wheel,
};
pub use wheel_name::{BuildTag, WheelName, WheelNameError, normalize_name};
