//! Keeps the data directory private to the service's user.
//!
//! The database holds full phone numbers, names and message bodies, and so does the dry-run
//! record. leadline therefore
//! - sets the process umask to `0o077` when `serve` and the offline commands start
//!   ([`restrict_umask`]), so everything it or sled creates is `0600` (files) or `0700`
//!   (directories);
//! - creates `storage.path` as `0700` and tightens an existing one that grants group or
//!   other users any access ([`prepare`]).
//!
//! On other platforms than unix both are no-ops.

use std::io;
use std::path::Path;

/// The umask `serve` and the offline commands run with: no access for group and others.
pub const UMASK: u32 = 0o077;
/// The mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of the files leadline creates itself (the dry-run record).
pub const FILE_MODE: u32 = 0o600;

/// Sets the process umask to [`UMASK`]. Call it once at start-up, before any thread that
/// creates files starts (the umask is process-wide).
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        // SAFETY: umask(2) only sets the calling process's file mode creation mask; it
        // cannot fail and touches no memory of ours.
        unsafe {
            libc::umask(UMASK as libc::mode_t);
        }
    }
}

/// What [`prepare`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// The directory did not exist; it was created `0700`.
    Created,
    /// The directory existed and granted no access to group or others; left as it was.
    Private,
    /// The directory existed with mode `was` and is now `0700`.
    Tightened { was: u32 },
    /// The directory existed with mode `was` and could not be changed (typically: it belongs
    /// to another user). The files leadline creates in it are still `0600` under the umask.
    StillOpen { was: u32, error: String },
}

impl DirState {
    /// A sentence for the log when the directory was, or still is, readable by others.
    pub fn warning(&self, path: &Path) -> Option<String> {
        match self {
            DirState::Created | DirState::Private => None,
            DirState::Tightened { was } => Some(format!(
                "storage.path {} was mode {was:04o} (readable by other users); changed it to {DIR_MODE:04o}",
                path.display()
            )),
            DirState::StillOpen { was, error } => Some(format!(
                "storage.path {} is mode {was:04o} (readable by other users) and could not be changed to \
                 {DIR_MODE:04o}: {error}; make the directory belong to the user leadline runs as",
                path.display()
            )),
        }
    }
}

/// Creates `path` (and missing parents) with mode `0700`, or tightens an existing directory
/// that grants group or others any access to `0700`. Errors: the directory cannot be
/// created, or `path` exists and is not a directory.
pub fn prepare(path: &Path) -> io::Result<DirState> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"))
        }
        Ok(meta) => Ok(tighten(path, &meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(path)?;
            Ok(DirState::Created)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn create(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)?;
    // DirBuilder's mode is filtered by the umask; a umask can only remove bits, but set the
    // mode anyway so the result does not depend on the caller's umask.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
}

#[cfg(not(unix))]
fn create(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

#[cfg(unix)]
fn tighten(path: &Path, meta: &std::fs::Metadata) -> DirState {
    use std::os::unix::fs::PermissionsExt;
    let was = meta.permissions().mode() & 0o7777;
    if was & 0o077 == 0 {
        return DirState::Private;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE)) {
        Ok(()) => DirState::Tightened { was },
        Err(e) => DirState::StillOpen { was, error: e.to_string() },
    }
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _meta: &std::fs::Metadata) -> DirState {
    DirState::Private
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_private_directories() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a").join("data");
        assert_eq!(prepare(&data).unwrap(), DirState::Created);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(prepare(&data).unwrap(), DirState::Private);
    }

    #[test]
    fn tightens_an_open_directory_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = prepare(&data).unwrap();
        assert_eq!(state, DirState::Tightened { was: 0o755 });
        assert_eq!(mode(&data), 0o700);
        let warning = state.warning(&data).unwrap();
        assert!(warning.contains("0755") && warning.contains("0700"), "{warning}");
        // A stricter mode than 0700 is left alone.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).unwrap();
        assert_eq!(prepare(&data).unwrap(), DirState::Private);
        assert_eq!(mode(&data), 0o500);
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, b"").unwrap();
        assert!(prepare(&file).is_err());
    }
}
