//! Why a request failed, as a type that each protocol maps to its own codes: an HTTP status
//! and a Postgres SQLSTATE. Rewording a message never changes the code a client sees.

use datafusion::error::DataFusionError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The request is malformed (a bad parameter, a syntax error, an unknown column).
    #[error("{0}")]
    BadRequest(String),
    /// The statement would write, read files or change the server: the lake is read-only.
    #[error("{0}")]
    Refused(String),
    /// No such dataset.
    #[error("{0}")]
    NotFound(String),
    /// The query is too large or too deeply nested to be planned safely.
    #[error("{0}")]
    TooComplex(String),
    /// Over the per-query time limit.
    #[error("{0}")]
    Timeout(String),
    /// Over the per-query memory limit.
    #[error("{0}")]
    Memory(String),
    /// Planning or running the query failed.
    #[error("{0}")]
    Query(String),
}

impl ServeError {
    pub fn http_status(&self) -> u16 {
        match self {
            ServeError::BadRequest(_) | ServeError::Query(_) => 400,
            ServeError::Refused(_) => 403,
            ServeError::NotFound(_) => 404,
            ServeError::TooComplex(_) => 413,
            ServeError::Memory(_) => 422,
            ServeError::Timeout(_) => 504,
        }
    }

    /// The Postgres error code clients (psql, drivers) understand.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ServeError::BadRequest(_) => "42601", // syntax_error
            ServeError::Refused(_) => "25006",    // read_only_sql_transaction
            ServeError::NotFound(_) => "42P01",   // undefined_table
            ServeError::TooComplex(_) => "54001", // statement_too_complex
            ServeError::Memory(_) => "53200",     // out_of_memory
            ServeError::Timeout(_) => "57014",    // query_canceled
            ServeError::Query(_) => "XX000",      // internal_error
        }
    }

    /// A DataFusion error as users should read it: the root message, and what to do when a
    /// limit was hit.
    pub fn from_datafusion(e: &DataFusionError) -> ServeError {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => ServeError::Memory(format!(
                "the query needs more memory than the server allows per query ({m}): filter or aggregate more, or ask for fewer columns"
            )),
            DataFusionError::SQL(..) => match oc_sql::shape::from_datafusion(e) {
                Some(s) => ServeError::TooComplex(s.to_string()),
                None => ServeError::BadRequest(e.find_root().to_string()),
            },
            root => ServeError::Query(root.to_string()),
        }
    }
}

impl From<DataFusionError> for ServeError {
    fn from(e: DataFusionError) -> Self {
        ServeError::from_datafusion(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_kind_not_the_words() {
        let refused = ServeError::Refused("longer than the server's limit, more memory".into());
        assert_eq!((refused.http_status(), refused.sqlstate()), (403, "25006"));
        let slow = ServeError::Timeout("refused".into());
        assert_eq!((slow.http_status(), slow.sqlstate()), (504, "57014"));
        let mem = ServeError::from_datafusion(&DataFusionError::ResourcesExhausted("x".into()));
        assert_eq!((mem.http_status(), mem.sqlstate()), (422, "53200"));
        assert!(mem.to_string().contains("more memory"));
    }
}
