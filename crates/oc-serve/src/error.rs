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
    /// Planning or running the query failed because of the query (an unknown column, a
    /// division by zero, a cast that does not apply).
    #[error("{0}")]
    Query(String),
    /// The server could not read the lake or failed itself: not the client's fault.
    #[error("{0}")]
    Server(String),
    /// The lake's object store gave no answer in time: worth retrying later. The store's
    /// address and the files are logged, not told to the client.
    #[error("{0}")]
    Unavailable(String),
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
            ServeError::Server(_) => 500,
            ServeError::Unavailable(_) => 503,
        }
    }

    /// The Postgres error code clients (psql, drivers) understand.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ServeError::BadRequest(_) => "42601",  // syntax_error
            ServeError::Refused(_) => "25006",     // read_only_sql_transaction
            ServeError::NotFound(_) => "42P01",    // undefined_table
            ServeError::TooComplex(_) => "54001",  // statement_too_complex
            ServeError::Memory(_) => "53200",      // out_of_memory
            ServeError::Timeout(_) => "57014",     // query_canceled
            ServeError::Query(_) => "42000",       // syntax_error_or_access_rule_violation
            ServeError::Server(_) => "XX000",      // internal_error
            ServeError::Unavailable(_) => "58030", // io_error
        }
    }

    /// A DataFusion error as users should read it: the root message, and what to do when a
    /// limit was hit.
    pub fn from_datafusion(e: &DataFusionError) -> ServeError {
        if oc_lake::store::no_answer(e) {
            tracing::warn!("the lake's object store did not answer: {e}");
            return ServeError::Unavailable(
                "the lake's storage did not answer in time: try again in a moment; if it goes on, tell the server's administrator".into(),
            );
        }
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => ServeError::Memory(format!(
                "the query needs more memory than the server allows per query ({m}): filter or aggregate more, or ask for fewer columns"
            )),
            DataFusionError::SQL(..) => match oc_sql::shape::from_datafusion(e) {
                Some(s) => ServeError::TooComplex(s.to_string()),
                None => ServeError::BadRequest(e.find_root().to_string()),
            },
            root @ (DataFusionError::IoError(_)
            | DataFusionError::ObjectStore(_)
            | DataFusionError::ParquetError(_)
            | DataFusionError::ExecutionJoin(_)
            | DataFusionError::Internal(_)) => ServeError::Server(format!(
                "the server failed to answer ({root}): try again; if it goes on, tell the server's administrator"
            )),
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
        let plan = ServeError::from(DataFusionError::Plan("no column x".into()));
        assert_eq!((plan.http_status(), plan.sqlstate()), (400, "42000"));
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "part-1.parquet");
        let lost = ServeError::from(DataFusionError::Context(
            "scan".into(),
            Box::new(DataFusionError::IoError(io)),
        ));
        assert_eq!((lost.http_status(), lost.sqlstate()), (500, "XX000"));
        assert!(lost.to_string().contains("part-1.parquet"), "{lost}");
        // A store that gave no answer: 503, and its address stays in the server's log.
        let silent = object_store::Error::Generic {
            store: "S3",
            source: "Error performing GET http://10.0.0.7:9000/lake/a/part-1.parquet in 2s, after 1 retries, max_retries: 1, retry_timeout: 2s  - HTTP error: error sending request".into(),
        };
        let down = ServeError::from(DataFusionError::ObjectStore(Box::new(silent)));
        assert_eq!((down.http_status(), down.sqlstate()), (503, "58030"));
        assert!(down.to_string().contains("did not answer"), "{down}");
        assert!(!down.to_string().contains("10.0.0.7"), "{down}");
        // A store that answered with an error is not that.
        let answered = object_store::Error::Generic {
            store: "S3",
            source: "Error performing GET http://10.0.0.7:9000/lake/a in 2s - Server returned non-2xx status code: 500 Internal Server Error".into(),
        };
        let failed = ServeError::from(DataFusionError::ObjectStore(Box::new(answered)));
        assert_eq!(failed.http_status(), 500, "{failed}");
    }
}
