//! How database failures become [`StoreError`]s.

use kirim_core::store::StoreError;
use rusqlite::ErrorCode;

/// A value the database returned that Kirim cannot understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad(pub String);

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn decode(what: impl Into<String>) -> Bad {
    Bad(what.into())
}

/// A failed statement of the writer, or a row it could not understand.
#[derive(Debug)]
pub(crate) enum WriteError {
    Sql(rusqlite::Error),
    Decode(Bad),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(e) => e.fmt(f),
            Self::Decode(e) => write!(f, "unreadable row: {e}"),
        }
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<Bad> for WriteError {
    fn from(e: Bad) -> Self {
        Self::Decode(e)
    }
}

/// How a write operation ended badly.
#[derive(Debug)]
pub(crate) enum OpError {
    /// A statement failed: the whole batch is rolled back (and its operations retried alone).
    Abort(WriteError),
    /// The operation refused before writing anything; the rest of the batch goes on.
    Refuse(StoreError),
}

impl From<WriteError> for OpError {
    fn from(e: WriteError) -> Self {
        Self::Abort(e)
    }
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Abort(e.into())
    }
}

impl From<Bad> for OpError {
    fn from(e: Bad) -> Self {
        Self::Abort(e.into())
    }
}

/// Constraint violations are the caller's doing (a duplicate or dangling key): `Conflict`.
/// Everything else (I/O, a full disk, a corrupt row) is `Unavailable`.
pub(crate) fn store_error(e: &WriteError) -> StoreError {
    if let WriteError::Sql(rusqlite::Error::SqliteFailure(failure, message)) = e
        && failure.code == ErrorCode::ConstraintViolation
    {
        return StoreError::Conflict(message.clone().unwrap_or_else(|| failure.to_string()));
    }
    StoreError::Unavailable(e.to_string())
}

/// For read queries: `?` turns a sqlx error, or an unreadable row, into a `StoreError`.
pub(crate) trait ReadResult<T> {
    fn read(self) -> Result<T, StoreError>;
}

impl<T> ReadResult<T> for Result<T, sqlx::Error> {
    fn read(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

impl<T> ReadResult<T> for Result<T, Bad> {
    fn read(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Unavailable(format!("unreadable row: {e}")))
    }
}
