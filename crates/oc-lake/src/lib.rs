//! The lake: one Delta table per dataset under `<root>/<domain>/<table>`, written by streaming
//! Parquet files and committed once per run, so readers see the old version or the new one,
//! never a mix; and the operational tables `_ops.runs` and `_ops.rejects`.

pub mod cluster;
pub mod lock;
pub mod maintenance;
pub mod ops;
mod scatter;
pub mod store;
pub mod write;

pub use maintenance::{Compacted, Vacuumed};
pub use store::{Lake, LakeError};
pub use write::{RUN_ID_KEY, SchemaChange, SchemaDiff, StagedFile, TableWrite, WriteMode};
