//! The lake and its views on Apache DataFusion Ballista: the analysts' SQL, unchanged, run by a
//! scheduler and executors instead of one process.
//!
//! - [`oc_sql::LakeTable`]: a lake table as a file list any node can scan (the provider of
//!   every lake query, local ones too);
//! - [`cancel`]: a job whose results nobody reads any more is cancelled;
//! - [`codec`]: that table and our SQL functions in Ballista's plans;
//! - [`store`]: each node opens S3 buckets with its own settings;
//! - [`session`]: the client session (`--engine ballista://…`);
//! - [`submit`]: plans sent already planned, when their logical form cannot travel;
//! - [`process`]: `opencoll scheduler`, `opencoll executor`, an in-process cluster;
//! - [`workdir`]: an executor's work folder, cleared of what a killed executor left.

pub mod cancel;
pub mod codec;
pub mod process;
pub mod session;
pub mod store;
pub mod submit;
pub mod workdir;

pub use oc_sql::{LakeTable, LakeTableSpec};
pub use session::{client_context, open_session, scheduler_url};

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
    /// A Delta feature a plain Parquet scan would read wrongly.
    #[error(
        "table {table} uses {feature}, which the cluster cannot read yet; query it without --engine"
    )]
    Unsupported { table: String, feature: String },
    #[error("{0}")]
    Engine(String),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error(transparent)]
    Lake(Box<oc_lake::LakeError>),
    #[error(transparent)]
    Sql(Box<oc_sql::SqlError>),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<oc_lake::LakeError> for DistError {
    fn from(e: oc_lake::LakeError) -> Self {
        DistError::Lake(Box::new(e))
    }
}

impl From<oc_sql::LakeTableError> for DistError {
    fn from(e: oc_sql::LakeTableError) -> Self {
        match e {
            oc_sql::LakeTableError::Table { table, message } => DistError::Table { table, message },
            oc_sql::LakeTableError::Unsupported { table, feature } => {
                DistError::Unsupported { table, feature }
            }
        }
    }
}

impl From<oc_sql::SqlError> for DistError {
    fn from(e: oc_sql::SqlError) -> Self {
        DistError::Sql(Box::new(e))
    }
}
