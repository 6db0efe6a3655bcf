//! Feeds batches produced by a reader thread into a DataFusion plan, read once.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use tokio::sync::mpsc;

pub type BatchResult = Result<RecordBatch, DataFusionError>;

#[derive(Debug)]
pub struct ChannelStream {
    schema: SchemaRef,
    rx: Mutex<Option<mpsc::Receiver<BatchResult>>>,
}

impl ChannelStream {
    pub fn new(schema: SchemaRef, rx: mpsc::Receiver<BatchResult>) -> Self {
        Self {
            schema,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl PartitionStream for ChannelStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().expect("not poisoned").take();
        let stream = futures::stream::unfold(rx, |rx| async move {
            match rx {
                Some(mut rx) => rx.recv().await.map(|b| (b, Some(rx))),
                None => Some((
                    Err(DataFusionError::Execution(
                        "the pipeline input can be read only once".into(),
                    )),
                    None,
                )),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}
