//! Room on the disk: ingest stops before the data directory's file system is full, so that
//! what is stored can still be delivered.
//!
//! Every step of a delivery writes (a claim's lease, an attempt and the send out's next
//! state), and so does ingest, much more per event. If ingest took the disk's last bytes,
//! nothing stored could be claimed any more, and a stuck delivery cannot free space. So the
//! committer looks at the file system's free space before each group (one `statvfs`, about a
//! microsecond) and refuses the group with [`StoreError::Full`] while less than
//! [`SqliteOptions::min_free_bytes`](super::SqliteOptions::min_free_bytes) is left: the room
//! below that goes to the delivery path alone. A disk that fills all the same (another
//! program's files) fails SQLite's writes with `SQLITE_FULL`, which is the same error.

use std::path::{Path, PathBuf};

use crate::{StoreError, StoreResult};

/// A file system with less free than this, for a store that failed to open or migrate, is
/// named as the cause: SQLite reports a database whose shared-memory file cannot grow as a
/// "disk I/O error", not as a full disk.
const NEARLY_FULL: u64 = 1024 * 1024;

/// The free space ingest leaves to deliveries, on the file system of the database.
#[derive(Debug, Clone)]
pub(super) struct Room {
    dir: PathBuf,
    min_free: u64,
}

impl Room {
    /// Keeps `min_free` bytes (0: none) on the file system holding `database`.
    pub(super) fn new(database: &Path, min_free: u64) -> Self {
        Self {
            dir: directory_of(database),
            min_free,
        }
    }

    /// `Err(Full)` while the file system has less than the room kept for deliveries. A file
    /// system that cannot say lets the write try (a full disk still fails it).
    pub(super) fn check(&self) -> StoreResult<()> {
        if self.min_free == 0 {
            return Ok(());
        }
        match free_bytes(&self.dir) {
            Ok(free) if free < self.min_free => Err(StoreError::Full(format!(
                "{free} bytes free on the file system of {}, less than the {} kept for \
                 deliveries (min_free_disk_bytes)",
                self.dir.display(),
                self.min_free
            ))),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, dir = %self.dir.display(), "cannot read the free space");
                Ok(())
            }
        }
    }
}

/// `error` as [`StoreError::Full`] when the file system holding `database` has (almost) no
/// room left: the likely cause of a store that failed to open or migrate there.
pub(super) fn name_full_disk(error: StoreError, database: &Path) -> StoreError {
    let dir = directory_of(database);
    match error {
        StoreError::Database(cause) if free_bytes(&dir).is_ok_and(|free| free < NEARLY_FULL) => {
            StoreError::Full(format!(
                "{cause} (the file system holding {} has no room left)",
                dir.display()
            ))
        }
        other => other,
    }
}

/// The directory a database file is in (`.` for a bare file name).
fn directory_of(database: &Path) -> PathBuf {
    match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Bytes this process may still write on the file system of `dir` (what `df` shows as
/// available: without the blocks reserved for root).
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_room_kept_never_refuses() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert!(Room::new(&dir.path().join("sendout.db"), 0).check().is_ok());
    }

    #[test]
    fn more_room_kept_than_the_disk_has_refuses_with_a_full_disk() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let refused = Room::new(&dir.path().join("sendout.db"), u64::MAX).check();
        assert!(
            matches!(&refused, Err(StoreError::Full(m)) if m.contains("min_free_disk_bytes")),
            "{refused:?}"
        );
    }
}
