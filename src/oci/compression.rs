//! How a layer's tar is compressed: the choice and its media type (the encoders are
//! in `layer`).

/// The media type of a gzip layer.
pub(crate) const GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The media type of a zstd layer.
pub(crate) const ZSTD_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// How a layer's tar is compressed. Part of each layer's derivation key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `tar+gzip`, the default: every registry and runtime reads it.
    #[default]
    Gzip,
    /// `tar+zstd`: smaller and faster to decompress; containerd 1.5+, Docker 23+,
    /// podman.
    Zstd,
}

impl Compression {
    /// The layer media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => crate::oci::GZIP_LAYER_MEDIA_TYPE,
            Self::Zstd => crate::oci::ZSTD_LAYER_MEDIA_TYPE,
        }
    }

    /// The name used on the command line, in `airlock.toml` and in derivation keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// Parses [`Compression::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gzip" => Some(Self::Gzip),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }
}
