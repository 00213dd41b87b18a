//! OpenPGP keyrings and the check of a clearsigned `InRelease` against them.
//!
//! Keys come as bytes (binary keyrings such as `debian-archive-keyring.gpg`, or
//! ASCII-armored `.asc` files, several keys each). A signature counts only when it
//! verifies against a primary key of the keyring or against a subkey whose binding
//! signature verifies; the body handed back is exactly the text that was verified.
//! No I/O: the caller reads the key files.

use pgp::composed::{Deserializable, DetachedSignature, PublicOrSecret, SignedPublicKey};
use pgp::types::KeyDetails;

use super::release::{ReleaseError, canonical_signed_text, split_clearsigned};

/// Why a key file or a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("`{label}` holds no OpenPGP public key: {reason}")]
    BadKeyFile { label: String, reason: String },
    #[error("The clearsigned text is malformed")]
    Clearsigned(#[from] ReleaseError),
    #[error("The signature block is unreadable: {0}")]
    BadSignature(String),
    #[error("No signature verifies against the keyring (signed by {issuers})")]
    NotVerified { issuers: String },
}

/// A set of trusted public keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds every public key in `bytes` (binary or armored). `label` names the file
    /// in errors. Returns how many keys were added.
    pub(crate) fn add(&mut self, label: &str, bytes: &[u8]) -> Result<usize, KeyringError> {
        let bad = |reason: String| KeyringError::BadKeyFile {
            label: label.to_string(),
            reason,
        };
        let (iter, _) = PublicOrSecret::from_reader_many(bytes).map_err(|e| bad(e.to_string()))?;
        let mut added = 0;
        for key in iter {
            match key {
                Ok(PublicOrSecret::Public(key)) => {
                    self.keys.push(key);
                    added += 1;
                }
                Ok(PublicOrSecret::Secret(key)) => {
                    self.keys.push(key.to_public_key());
                    added += 1;
                }
                // One unreadable key (an algorithm rpgp does not know) must not hide
                // the others of the same keyring.
                Err(error) => tracing::debug!(label, %error, "skipping an unreadable key"),
            }
        }
        if added == 0 {
            return Err(bad("no readable key".into()));
        }
        Ok(added)
    }

    /// Checks a clearsigned text and returns its signed body (dash-escaping undone,
    /// `\n` line ends) when at least one signature verifies.
    pub(crate) fn verify_clearsigned(&self, text: &str) -> Result<String, KeyringError> {
        let (body, armor) = split_clearsigned(text)?;
        let (signatures, _) = DetachedSignature::from_string_many(&armor)
            .map_err(|e| KeyringError::BadSignature(e.to_string()))?;
        let signed = canonical_signed_text(&body);
        let mut issuers = Vec::new();
        for signature in signatures {
            let signature = signature.map_err(|e| KeyringError::BadSignature(e.to_string()))?;
            for fp in signature.signature.issuer_fingerprint() {
                issuers.push(format!("{fp:X}"));
            }
            for id in signature.signature.issuer_key_id() {
                issuers.push(hex::encode_upper(id.as_ref()));
            }
            if self.verifies(&signature, &signed) {
                return Ok(body);
            }
        }
        issuers.dedup();
        Err(KeyringError::NotVerified {
            issuers: if issuers.is_empty() {
                "an unnamed key".into()
            } else {
                issuers
                    .iter()
                    .map(|i| format!("`{i}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    fn verifies(&self, signature: &DetachedSignature, signed: &[u8]) -> bool {
        for key in &self.keys {
            if signature.verify(&key.primary_key, signed).is_ok() {
                return true;
            }
            for sub in &key.public_subkeys {
                if signature.verify(&sub.key, signed).is_ok() {
                    if sub.verify_bindings(&key.primary_key).is_ok() {
                        return true;
                    }
                    tracing::debug!(
                        subkey = %format!("{:X}", sub.key.fingerprint()),
                        "signature by a subkey without a valid binding"
                    );
                }
            }
        }
        false
    }
}

impl crate::hint::Hint for KeyringError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Clearsigned(error) => error.hints(),
            Self::BadKeyFile { .. } | Self::BadSignature(..) | Self::NotVerified { .. } => {
                Vec::new()
            }
        }
    }
}
