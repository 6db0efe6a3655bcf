//! A domain's schema (`finances`, `ref`…) whose tables are replaced in one step.
//!
//! DataFusion's `MemorySchemaProvider` refuses to register a name twice, so a new version had
//! to be put in by deregistering the old one first: a query planned between the two steps did
//! not find the table (issue 20's soak caught it, one query in 30,000 answered "table not
//! found" while a refresh was being served). Here `register_table` swaps the provider under one
//! lock: a query sees the old version or the new one, never none.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

#[derive(Debug, Default)]
pub struct DomainSchema {
    tables: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
}

impl DomainSchema {
    fn tables(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<dyn TableProvider>>> {
        // A panic while holding the lock cannot leave the map half-written (one insert or
        // remove), so a poisoned lock is still a consistent map.
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn tables_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<dyn TableProvider>>> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl SchemaProvider for DomainSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables().keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(self.tables().get(name).cloned())
    }

    /// Puts `table` in place of any previous table of that name and returns the previous one.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables_mut().insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables_mut().remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables().contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;

    fn table(n: i64) -> Arc<dyn TableProvider> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![n]))])
            .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    #[tokio::test]
    async fn registering_a_name_again_replaces_the_table() {
        let s = DomainSchema::default();
        assert!(s.register_table("t".into(), table(1)).unwrap().is_none());
        assert!(s.register_table("t".into(), table(2)).unwrap().is_some());
        assert_eq!(s.table_names(), vec!["t".to_string()]);
        assert!(s.table("t").await.unwrap().is_some());
        assert!(s.deregister_table("t").unwrap().is_some());
        assert!(!s.table_exist("t"));
    }
}
