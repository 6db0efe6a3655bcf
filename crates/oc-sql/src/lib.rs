//! One DataFusion session over the lake: every Delta table as `<domain>.<table>`, every view of
//! `sql/` created in dependency order, the domain functions, and a read-only guard.

pub mod codes;
pub mod session;
pub mod udf;

pub use session::{LakeSession, SqlError, read_only};
