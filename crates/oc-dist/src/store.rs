//! Object stores on cluster nodes: a plan names `s3://bucket` and each scheduler or executor
//! opens that bucket with the S3 settings of its own environment (`AWS_*`, as `opencoll`
//! does for the lake), so no credential ever travels in a plan.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::ObjectStore;
use url::Url;

/// Local files as DataFusion serves them; S3 buckets opened on first use.
#[derive(Debug, Default)]
pub struct EnvStores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        if !matches!(url.scheme(), "s3" | "s3a") {
            return Err(DataFusionError::Configuration(format!(
                "no object store for {url}: the lake must be a folder every node sees or s3://"
            )));
        }
        let opts = oc_lake::store::env_storage_options(url);
        let (store, _) = oc_lake::store::open_store(url, opts).map_err(|e| {
            DataFusionError::Configuration(format!(
                "cannot open {url} with this process's AWS_* settings: {e}"
            ))
        })?;
        let store: Arc<dyn ObjectStore> = Arc::from(store);
        self.known.register_store(url, store.clone());
        Ok(store)
    }
}

/// A runtime whose object stores come from [`EnvStores`]; spill files go to `temp_dir`.
pub fn runtime(temp_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(EnvStores::default()));
    if let Some(d) = temp_dir {
        b = b.with_temp_file_path(d);
    }
    Ok(Arc::new(b.build()?))
}
