//! Why a run or a refresh failed, as types: the scheduler decides whether to retry from the
//! variant ([`RunError::is_transient`]), never from the wording of a message.

use datafusion::error::DataFusionError;
use oc_extract::ExtractError;
use oc_lake::LakeError;
use oc_sql::SqlError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pipeline cannot be planned (validation catches these before a refresh).
    #[error("{0}")]
    Spec(String),
    /// A remote source could not be fetched.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// A source file could not be read (it names the file and the line).
    #[error("{0}")]
    Source(ExtractError),
    /// More rows rejected than the pipeline tolerates.
    #[error(
        "{count} rows rejected, more than max_rejects = {max}{first} (all in _ops.rejects, run {run_id})"
    )]
    Rejects {
        count: u64,
        max: u64,
        /// `; first: file:line: …`, or empty.
        first: String,
        run_id: String,
    },
    /// Checks of severity error failed on the new version: nothing was committed.
    #[error(
        "{} check(s) failed, nothing committed (the table keeps its previous version):\n          {}",
        .0.len(),
        .0.join("\n          ")
    )]
    ChecksFailed(Vec<String>),
    /// The checks themselves could not run.
    #[error("could not run the checks: {0}")]
    Checks(String),
    /// Planning or running SQL on the lake failed: planning (wrong SQL, a missing column)
    /// fails the same way again; reading (storage) may pass. Decided where the error is met,
    /// from DataFusion's kind of error ([`RunError::sql`]).
    #[error("{message}")]
    Sql { message: String, transient: bool },
    /// The lake refused or failed: a lock held by another run, schema drift, storage errors.
    #[error("{0}")]
    Lake(#[from] LakeError),
    /// The run's outcome could not be written to an `_ops` table.
    #[error("could not record {what}: {source}")]
    Record {
        what: &'static str,
        #[source]
        source: LakeError,
    },
    /// The run finished (or failed) but could not be recorded in `_ops.runs`.
    #[error("{}could not record the run in _ops.runs: {source}", .run.as_ref().map(|e| format!("{e}; ")).unwrap_or_default())]
    NotRecorded {
        run: Option<Box<RunError>>,
        #[source]
        source: LakeError,
    },
    /// The reader thread panicked or was cancelled.
    #[error("the reader thread failed: {0}")]
    Reader(String),
}

impl RunError {
    /// A DataFusion error met while doing `what` (`what` is said first).
    pub fn sql(what: impl std::fmt::Display, e: &DataFusionError) -> RunError {
        RunError::Sql {
            message: format!("{what}{e}"),
            transient: datafusion_transient(e),
        }
    }

    /// The same SQL error, with what likely caused it said after.
    pub fn then(mut self, cause: &str) -> RunError {
        if let RunError::Sql { message, .. } = &mut self {
            message.push_str(cause);
        }
        self
    }

    /// An error of the lake's SQL session (loading tables, registering them).
    pub fn session(e: SqlError) -> RunError {
        let transient = match &e {
            SqlError::DataFusion(d) => datafusion_transient(d),
            SqlError::Lake(l) => lake_transient(l),
            SqlError::Shape(_) | SqlError::Other(_) => false,
        };
        RunError::Sql {
            message: e.to_string(),
            transient,
        }
    }

    /// SQL the pipeline or the project wrote that cannot be planned.
    pub fn sql_plan(message: String) -> RunError {
        RunError::Sql {
            message,
            transient: false,
        }
    }

    /// A failure that may pass if the run is tried again: a source unreachable, a table locked
    /// by another refresh, a storage error (which may surface while SQL reads the lake). Bad
    /// data (rejects, failed checks, schema drift) would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            RunError::Rejects { .. } | RunError::ChecksFailed(_) | RunError::Spec(_) => false,
            RunError::Sql { transient, .. } => *transient,
            RunError::Lake(e) | RunError::Record { source: e, .. } => lake_transient(e),
            RunError::NotRecorded { run, source } => {
                run.as_ref().is_none_or(|r| r.is_transient()) && lake_transient(source)
            }
            RunError::Fetch(_)
            | RunError::Source(_)
            | RunError::Checks(_)
            | RunError::Reader(_) => true,
        }
    }
}

fn lake_transient(e: &LakeError) -> bool {
    !matches!(e, LakeError::SchemaDrift { .. })
}

/// Storage and resources may come back; a query that does not plan or types that do not fit
/// will not.
fn datafusion_transient(e: &DataFusionError) -> bool {
    matches!(
        e.find_root(),
        DataFusionError::ObjectStore(_)
            | DataFusionError::IoError(_)
            | DataFusionError::ResourcesExhausted(_)
            | DataFusionError::External(_)
    )
}

/// Why a refresh or `opencoll test` could not start.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{count} error(s) in the project: fix them first (opencoll validate)")]
    Invalid {
        count: usize,
        diagnostics: oc_spec::Diagnostics,
    },
    #[error("no pipeline named {name}{}", .hint.as_ref().map(|h| format!(" (did you mean {h}?)")).unwrap_or_default())]
    UnknownPipeline { name: String, hint: Option<String> },
    #[error("no pipeline in domain {0}")]
    UnknownDomain(String),
    #[error("no pipeline has a `schedule:`")]
    NothingScheduled,
    #[error(transparent)]
    Lake(Box<LakeError>),
    #[error(transparent)]
    Sql(#[from] oc_sql::SqlError),
}

impl From<LakeError> for RefreshError {
    fn from(e: LakeError) -> Self {
        RefreshError::Lake(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_kind_of_failure_not_its_words() {
        let locked = RunError::Lake(LakeError::Locked {
            table: "ref.x".into(),
            message: "rows rejected check(s) failed".into(),
        });
        assert!(locked.is_transient(), "the wording must not matter");
        let drift = RunError::Lake(LakeError::SchemaDrift {
            table: "ref.x".into(),
            message: "source unreadable".into(),
        });
        assert!(!drift.is_transient());
        // SQL: a query that does not plan fails again, a storage error may pass
        let plan = DataFusionError::Plan("no column `montant` (storage unreachable)".into());
        assert!(!RunError::sql("view x: ", &plan).is_transient());
        let io = DataFusionError::IoError(std::io::Error::other("no column"));
        assert!(RunError::sql("view x: ", &io).is_transient());
        let wrapped = DataFusionError::Context("reading".into(), Box::new(io));
        assert!(RunError::sql("", &wrapped).is_transient());
        assert!(!RunError::Spec("a source could not be fetched".into()).is_transient());
        let rejects = RunError::Rejects {
            count: 3,
            max: 0,
            first: String::new(),
            run_id: "r".into(),
        };
        assert!(!rejects.is_transient());
        assert_eq!(
            rejects.to_string(),
            "3 rows rejected, more than max_rejects = 0 (all in _ops.rejects, run r)"
        );
        assert!(!RunError::ChecksFailed(vec!["fail x".into()]).is_transient());
        let fetch = crate::fetch::FetchError {
            url: "https://x".into(),
            what: "cannot fetch".into(),
            message: "503".into(),
        };
        assert!(RunError::Fetch(fetch).is_transient());
        let unrecorded = RunError::NotRecorded {
            run: Some(Box::new(rejects)),
            source: LakeError::Table {
                table: "_ops.runs".into(),
                message: "disk full".into(),
            },
        };
        assert!(!unrecorded.is_transient());
        assert!(
            unrecorded
                .to_string()
                .starts_with("3 rows rejected, more than max_rejects = 0 (all in _ops.rejects, run r); could not record the run in _ops.runs: table _ops.runs: disk full"),
            "{unrecorded}"
        );
    }
}
