//! One DataFusion session over the lake: every Delta table as `<domain>.<table>`, every view of
//! `sql/` created in dependency order, the domain functions, and a read-only guard.

mod batch_groups;
pub mod bounded_functions;
pub mod codes;
mod decimal64_sums;
mod dictionary_filters;
mod distinct_runs;
mod fast_exprs;
mod first_keys;
pub mod lake_table;
pub mod ops;
pub mod progress;
mod read_hints;
mod run_sums;
mod runs;
mod scan_predicates;
mod schema;
pub mod session;
pub mod shape;
pub mod udf;
mod yielding_joins;

pub use lake_table::{LakeTable, LakeTableError, LakeTableSpec};
pub use session::{LakeSession, LakeTables, SqlError, read_only};
