//! The Python layer: the locked wheels installed into one tree (`python_layer.rs`
//! makes it).

use super::{Below, LayerStep, StoredLayer};
use crate::digest::Digest;
use crate::image::BaseFacts;
use crate::lock::Lockfile;
use crate::pipeline::BuildError;
use crate::pipeline::options::Reporter;
use crate::pipeline::python_layer::{fetch_locked_wheels, layer_key, python_layer};
use crate::pipeline::python_stage::{PythonOptions, PythonPlan};
use crate::store::Store;

/// The layer of the wheels the lock pins.
pub(in crate::pipeline) struct PythonStep<'a> {
    pub lock: &'a Lockfile,
    pub plan: &'a PythonPlan,
    pub facts: &'a BaseFacts,
    pub options: &'a PythonOptions,
    pub mtime: u64,
    pub compression: crate::layer::Compression,
    /// Where the wheel downloads run.
    pub runtime: &'a tokio::runtime::Handle,
    /// The downloads started while the base was read.
    pub prefetch: &'a crate::pipeline::prefetch::Prefetch,
}

impl LayerStep for PythonStep<'_> {
    fn kind(&self) -> &'static str {
        "python"
    }

    fn created_by(&self) -> String {
        "RUN pip install --no-compile -r requirements.txt # airlock: locked wheels".to_string()
    }

    fn key(
        &self,
        _below: &Below<'_>,
        _reporter: &dyn Reporter,
    ) -> Result<Option<Digest>, BuildError> {
        if self.lock.wheels.is_empty() {
            return Ok(None);
        }
        Ok(Some(layer_key(
            self.lock,
            &self.plan.environment,
            self.mtime,
            self.compression,
        )))
    }

    fn key_above(&self, _key: &Digest) -> Digest {
        // Without the compression: the keys above (and the lock's pins) are the same
        // for gzip and zstd builds.
        layer_key(
            self.lock,
            &self.plan.environment,
            self.mtime,
            crate::layer::Compression::Gzip,
        )
    }

    fn produce(
        &self,
        key: &Digest,
        _below: &Below<'_>,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<StoredLayer, BuildError> {
        let record = python_layer(self, key, store, reporter)?;
        Ok(StoredLayer::made(record))
    }

    fn fetch_inputs(&self, store: &Store, reporter: &dyn Reporter) -> Result<(), BuildError> {
        fetch_locked_wheels(self, store, reporter).map_err(|e| BuildError::Python(Box::new(e)))
    }
}
