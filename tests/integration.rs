//! The integration tests, as one test binary: each file beside this one is a module
//! (`tests/python.rs` is `python::`), so the suite links once instead of once per
//! file. The shared helpers are `support`.

mod support;

mod astro;
mod bad_input;
mod build;
mod cache;
mod crash;
mod debian;
mod debian_apt;
mod debian_real;
mod debian_segments;
mod deploy;
mod dockerfile_steps;
mod fixtures;
mod floors;
mod http_trust;
mod image_pins;
mod init;
mod layer_cache;
mod parse;
mod python;
mod python_real;
mod python_sdist;
mod python_sdist_real;
mod readers;
mod registry;
mod registry_cli;
mod run_idioms;
mod run_steps;
mod sbom;
mod schemas;
mod sync_hostile;
mod tier2;
mod tier2_airflow;
