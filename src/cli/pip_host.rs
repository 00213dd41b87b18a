//! Asks the host's pip which index it uses, for `airlock init` to record in the new
//! project: `python3 -m pip config list` (an `index-url` the user configured), else
//! pip's own default. Silent when there is no pip.

use std::process::Command;

fn run(args: &[&str]) -> Option<String> {
    let output = Command::new("python3").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The index URL the host's pip would use, if pip answers. Credentials in a
/// configured URL are dropped: they belong in `.netrc` or the environment.
pub(super) fn host_index_url() -> Option<String> {
    let configured = run(&["-m", "pip", "config", "list"]).and_then(|text| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .ends_with(".index-url")
                .then(|| value.trim().trim_matches(['\'', '"']).to_string())
        })
    });
    let url = configured.or_else(|| {
        run(&[
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])
        .map(|s| s.trim().to_string())
    })?;
    let mut parsed = url::Url::parse(&url).ok()?;
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Some(parsed.to_string())
}
