//! How a store call fails: [`StoreError`], whose kind says whether retrying can help.

/// A store failure; whether to retry is a property of the error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// The database refuses this data and always will (PostgreSQL SQLSTATE class 22 "data
    /// exception", class 23 other than a unique violation; SQLite constraint, size and type
    /// errors): retrying the same write cannot succeed.
    #[error("the database refuses the data: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
    /// Whether the same write fails again whatever happens ([`StoreError::Invalid`]).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Invalid(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
