//! `airlock init`.

use anyhow::Context;

use super::args::{GlobalArgs, InitArgs};
use crate::project::init::init_project;

pub fn run(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<()> {
    let written = init_project(&args.dir, &args.base)
        .with_context(|| format!("Cannot create a project in `{}`", args.dir.display()))?;
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
