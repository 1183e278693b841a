//! How database failures become [`StoreError`]s.

use kirim_core::store::StoreError;
use sqlx::error::ErrorKind;

/// How a write operation ended badly.
#[derive(Debug)]
pub(crate) enum OpError {
    /// A statement failed: the whole batch is rolled back (and its operations retried alone).
    Abort(sqlx::Error),
    /// The operation refused before writing anything; the rest of the batch goes on.
    Refuse(StoreError),
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        Self::Abort(e)
    }
}

/// Constraint violations are the caller's doing (a duplicate or dangling key): `Conflict`.
/// Everything else (I/O, a closed pool, a corrupt row) is `Unavailable`.
pub(crate) fn store_error(e: &sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = e {
        match db.kind() {
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation | ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                return StoreError::Conflict(db.message().to_owned());
            }
            _ => {}
        }
    }
    StoreError::Unavailable(e.to_string())
}

/// For read queries: `?` turns a sqlx error into a `StoreError`.
pub(crate) trait ReadResult<T> {
    fn read(self) -> Result<T, StoreError>;
}

impl<T> ReadResult<T> for Result<T, sqlx::Error> {
    fn read(self) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// A value the database returned that Kirim cannot understand.
pub(crate) fn decode(what: impl Into<String>) -> sqlx::Error {
    sqlx::Error::Decode(what.into().into())
}
