//! The store's one error type.

use std::path::PathBuf;

/// Store errors, each naming the database (its file, for SQLite).
///
/// No backend's types appear here: a backend error is kept as the
/// [`StoreError::Backend`] source, with its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file does not exist (for commands that only read).
    #[error("{path}: no such database; create one with `depmap ingest --db {path} FILE`")]
    Missing {
        /// The database path.
        path: PathBuf,
    },
    /// The file exists but is not an SQLite database.
    #[error("{path}: not a depmap database (SQLite says: {detail})")]
    NotADatabase {
        /// The database path.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// The database was written by a newer depmap.
    #[error("{path}: schema version {found} is newer than this depmap understands ({known}); upgrade depmap")]
    TooNew {
        /// The database path.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A stored value could not be read back (a corrupt or hand-edited row).
    #[error("{path}: bad value in table {table}: {detail}")]
    BadRow {
        /// The database path.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Any other database error (disk full, read-only file, locked, ...),
    /// with the backend's own error as its source and message.
    #[error("{path}: {source}")]
    Backend {
        /// The database path.
        path: PathBuf,
        /// The backend's error (SQLite's, for [`Store`](crate::Store)).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}
