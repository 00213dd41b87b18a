//! `airlock init`.

use anyhow::Context;

use super::args::{GlobalArgs, InitArgs};
use crate::project::init::init_project;

pub(super) fn run(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<()> {
    let written = init_project(&args.dir, &args.base)
        .with_context(|| format!("Cannot create a project in `{}`", args.dir.display()))?;
    // Record the index the host's pip uses, so the project locks the same way anywhere.
    if let Some(index) = super::pip_host::host_index_url() {
        let path = args.dir.join("airlock.toml");
        let mut text = std::fs::read_to_string(&path)
            .with_context(|| format!("Cannot read `{}`", path.display()))?;
        text.push_str(&format!(
            "\n[python]\n# The package index requirements.txt is resolved from (the host pip's, when\n# `airlock init` ran). PIP_INDEX_URL or `--index-url` in requirements.txt win.\nindex-url = \"{index}\"\n"
        ));
        std::fs::write(&path, text)
            .with_context(|| format!("Cannot write `{}`", path.display()))?;
    }
    if !global.quiet {
        eprintln!(
            "Created an Airflow project in `{}` ({} files)",
            args.dir.display(),
            written.len()
        );
        eprintln!("Next: set the FROM image in the Dockerfile, then run `airlock build`");
    }
    Ok(())
}
