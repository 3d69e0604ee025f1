//! An online copy of the embedded store (`sendout backup`): SQLite's `VACUUM INTO` on a
//! read-only connection of its own, so it runs beside a serving process without stopping it
//! (in WAL mode the writer never waits for a reader; checkpoints stop at its snapshot until it
//! ends). The copy is one consistent snapshot: everything committed before its read
//! transaction began, nothing after.
//! It is written under a temporary name beside the destination and linked into place only
//! once complete and checked, so a failed backup leaves no half-written file under the name
//! asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{StoreError, StoreResult};

/// How long the copy waits for a lock (a checkpoint or recovery) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the store at `database` to a new file `to`. Refuses, changing nothing, when
/// `database` does not exist, `to` exists already, or `to`'s folder does not exist.
/// Blocking: call it on a blocking thread.
pub fn backup(database: &Path, to: &Path) -> StoreResult<Backup> {
    if !database.is_file() {
        return Err(StoreError::Database(format!(
            "there is no embedded store at {}",
            database.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Conflict(format!(
            "{} exists already: a backup never overwrites a file",
            to.display()
        )));
    }
    let folder = match to.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(StoreError::Database(format!(
            "the folder {} does not exist",
            folder.display()
        )));
    }
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let partial = folder.join(format!(".{name}.partial-{}", std::process::id()));
    // Linked, not renamed, into place: a link fails when `to` has appeared since the check
    // above, so the copy never replaces a file, however late that file came.
    let result = copy(database, &partial).and_then(|()| {
        std::fs::hard_link(&partial, to).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::Conflict(format!(
                "{} exists already: a backup never overwrites a file",
                to.display()
            )),
            _ => StoreError::Database(format!("could not name the copy {}: {e}", to.display())),
        })
    });
    let _ = std::fs::remove_file(&partial);
    result?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Backup {
        path: to.to_path_buf(),
        bytes,
    })
}

fn copy(database: &Path, partial: &Path) -> StoreResult<()> {
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    let target = partial.to_string_lossy().into_owned();
    source.execute("VACUUM INTO ?1", [&target])?;
    drop(source);
    let copy = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Database(format!(
            "the copy failed its check: {verdict}"
        )));
    }
    Ok(())
}
