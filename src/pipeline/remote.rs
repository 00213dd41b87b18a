//! The project's `[registry]` table (`airlock.toml`) as the registry client's
//! defaults, for [`RemoteOptions::with_settings`](crate::registry::RemoteOptions::with_settings).

use crate::project::settings::RegistrySettings;
use crate::registry::RegistryDefaults;

impl From<&RegistrySettings> for RegistryDefaults {
    fn from(settings: &RegistrySettings) -> Self {
        Self {
            default: settings.default.clone(),
            insecure: settings.insecure.clone(),
            ca_files: settings.ca_files.clone(),
            chunk_size: settings.chunk_size,
            parallelism: settings.parallelism,
        }
    }
}
