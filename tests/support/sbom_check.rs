//! Independent SBOM validators from PyPI, installed once into a virtual environment
//! kept in the target directory: cyclonedx-python-lib's strict JSON schema
//! validation (CycloneDX 1.6) and spdx-tools' `pyspdxtools` (SPDX 2.3).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The validators' interpreter, installed from the index pip is configured for;
/// `None` (with a SKIP line) when they cannot be installed.
pub fn validators() -> Option<PathBuf> {
    let venv = super::rootfs::persistent_cache("sbom-validators").join("venv");
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import cyclonedx.validation.json, spdx_tools"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Some(python);
    }
    let packages = ["cyclonedx-python-lib[json-validation]", "spdx-tools"];
    let ok = super::host_python::make_venv(&venv, &packages);
    if !ok || !ready(&python) {
        eprintln!("SKIP: cannot install the SBOM validators into a virtual environment");
        return None;
    }
    Some(python)
}

/// `http://127.0.0.1:PORT/` becomes `http://archive.test/`: spdx-tools' URL pattern
/// wants a dotted DNS name, so the test servers' loopback addresses are renamed to a
/// reserved `.test` name (in a copy) for it.
pub fn loopback_renamed(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("http://127.0.0.1:") {
        out.push_str(&rest[..i]);
        out.push_str("http://archive.test");
        let tail = &rest[i + "http://127.0.0.1:".len()..];
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Validates the SPDX document `spdx` and the CycloneDX document `cdx` with
/// `python`'s validators (copies written into `dir`); panics with what they said.
pub fn validate(python: &Path, spdx: &[u8], cdx: &[u8], dir: &Path) {
    let spdx_checked = dir.join("checked.spdx.json");
    let renamed = loopback_renamed(&String::from_utf8_lossy(spdx));
    std::fs::write(&spdx_checked, renamed).expect("write");
    let cdx_checked = dir.join("checked.cdx.json");
    std::fs::write(&cdx_checked, cdx).expect("write");
    let script = "import sys\nfrom cyclonedx.schema import SchemaVersion\nfrom cyclonedx.validation.json import JsonStrictValidator\n\
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
sys.exit(f'invalid: {errors!r}' if errors else 0)\n";
    super::run_ok(
        Command::new(python)
            .args(["-m", "spdx_tools.spdx.clitools.pyspdxtools", "-i"])
            .arg(&spdx_checked),
    );
    super::run_ok(Command::new(python).arg("-c").arg(script).arg(&cdx_checked));
}
