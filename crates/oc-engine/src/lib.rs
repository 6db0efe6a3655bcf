//! Runs a project's pipelines: extract → conform → SQL (computed columns, transforms) →
//! write → one commit, with every row accounted for (written, rejected, or filtered by the
//! pipeline's own SQL) and a record of each run in `_ops.runs`.

pub mod checks;
pub mod fetch;
pub mod incremental;
pub mod plan;
pub mod publish;
pub mod run;
pub mod schedule;
mod stream;

pub use incremental::{Decision, decide, last_successful_runs};
pub use plan::{PipelinePlan, order_pipelines, validate_project, waves};
pub use run::{RunOptions, RunReport, run_pipeline};
