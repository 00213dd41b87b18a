//! Whole-file writes that happen completely or not at all: a temp file in the
//! destination's own directory (so the rename never crosses filesystems), then a
//! rename over the real name. A killed process leaves at most an unnamed temp file.

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` as the new content of `path`.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, None)
}

/// [`write`] for a file other tools read (an output): mode 0644, whatever the umask.
pub(crate) fn write_readable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, bytes, Some(0o644))
}

/// [`write`] with the temp file in `staging` (a directory on the same filesystem that
/// nothing reads, such as a project's `.airlock/`), for a file whose own directory is
/// read whole: a killed write then leaves its temp file where no one takes it for
/// content. Falls back to the destination's directory when `staging` is elsewhere.
pub(crate) fn write_staged(path: &Path, bytes: &[u8], staging: &Path) -> io::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(staging)?;
    temp.write_all(bytes)?;
    match temp.persist(path) {
        Ok(_) => Ok(()),
        Err(error) if error.error.kind() == io::ErrorKind::CrossesDevices => write(path, bytes),
        Err(error) => Err(error.error),
    }
}

fn write_with(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt as _;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        write(&path, b"one").expect("write");
        write(&path, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
