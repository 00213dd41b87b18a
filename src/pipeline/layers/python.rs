//! The Python layer: the locked wheels installed into one tree (`python_layer.rs`
//! makes it).

use super::{LayerStep, Realised};
use crate::image::BaseFacts;
use crate::lock::Lockfile;
use crate::pipeline::BuildError;
use crate::pipeline::options::Reporter;
use crate::pipeline::python_layer::python_layer;
use crate::pipeline::python_stage::{PythonOptions, PythonPlan};
use crate::store::Store;

/// The layer of the wheels the lock pins.
pub(in crate::pipeline) struct PythonStep<'a> {
    pub lock: &'a Lockfile,
    /// `None` when the project asks for no wheels.
    pub plan: Option<&'a PythonPlan>,
    pub facts: &'a BaseFacts,
    pub options: &'a PythonOptions,
    pub mtime: u64,
}

impl LayerStep for PythonStep<'_> {
    fn kind(&self) -> &'static str {
        "python"
    }

    fn created_by(&self) -> String {
        "RUN pip install --no-compile -r requirements.txt # airlock: locked wheels".to_string()
    }

    fn realise(
        &self,
        store: &Store,
        reporter: &dyn Reporter,
    ) -> Result<Option<Realised>, BuildError> {
        let Some(plan) = self.plan else {
            return Ok(None);
        };
        let layer = python_layer(
            self.lock,
            plan,
            self.facts,
            store,
            self.mtime,
            self.options,
            reporter,
        )?;
        Ok(layer.map(|(record, reused)| Realised {
            record,
            reused,
            skipped_scripts: Vec::new(),
        }))
    }
}
