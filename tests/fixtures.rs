//! The committed fixture base image is exactly what the generator makes.
//!
//! Regenerate it after changing the generator with
//! `AIRLOCK_BLESS=1 cargo nextest run --test fixtures`.

use crate::support;

use airlock::oci::select_image;

#[test]
fn committed_runtime_base_is_current() {
    let committed = support::repo_root().join("fixtures/runtime-base");
    let scratch = tempfile::tempdir().expect("tempdir");
    let fresh = scratch.path().join("runtime-base");
    let digest = support::write_base(&fresh, &support::BaseSpec::default());
    if std::env::var_os("AIRLOCK_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        support::copy_tree(&fresh, &committed);
    }
    let image = select_image(&committed, Some("3.0-1")).expect("committed layout readable");
    assert_eq!(
        image.manifest_digest, digest,
        "fixtures/runtime-base is stale; run `AIRLOCK_BLESS=1 cargo nextest run --test fixtures`"
    );
}
