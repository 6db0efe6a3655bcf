//! Runs a project's pipelines: extract → conform → SQL (computed columns, transforms) →
//! write → one commit, with every row accounted for (written, rejected, or filtered by the
//! pipeline's own SQL) and a record of each run in `_ops.runs`. The engine owns orchestration:
//! which pipelines run, in which order, whether they changed ([`refresh`]), the data tests
//! ([`data_tests::test`]) and the schedule; the CLI only prints the [`Event`]s.

mod candidate;
pub mod checks;
pub mod data_tests;
pub mod error;
pub mod fetch;
pub mod graph;
pub mod incremental;
pub mod materialize;
pub mod plan;
pub mod publish;
pub mod refresh;
pub mod restore;
pub mod run;
pub mod schedule;
mod stream;
pub mod vars;

pub use error::{RefreshError, RunError};
pub use graph::DependencyGraph;
pub use incremental::Decision;
pub use plan::{PipelinePlan, validate_project};
pub use refresh::{Event, Observer, Quiet, RefreshOptions, RefreshSummary, Selection, refresh};
pub use run::{ReadProgress, RunOptions, RunReport, run_pipeline};
