//! Checkpoints cross as encoded-but-uncompressed state: encoding is the consistent cut and runs on the
//! JavaScript thread; compression, most of a large snapshot's cost, runs on the thread pool.

use napi::bindgen_prelude::*;
use pulse_engine::snapshot::Writer;

use crate::{unwind_to_error, EngineCode};

/// State encoded for a checkpoint (a whole snapshot or a delta of a partition engine) or a model
/// snapshot of the recommender, still to be compressed.
#[napi]
pub struct EncodedState {
    writer: Option<Writer>,
    encoded_bytes: u32,
}

impl EncodedState {
    pub fn new(writer: Writer) -> Self {
        let encoded_bytes = u32::try_from(writer.len()).unwrap_or(u32::MAX);
        Self { writer: Some(writer), encoded_bytes }
    }
}

#[napi]
impl EncodedState {
    /// Size before compression, bytes.
    #[napi(getter)]
    pub fn encoded_bytes(&self) -> u32 {
        self.encoded_bytes
    }

    /// The LZ4 frame, made on the thread pool; callable once.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn compress(&mut self) -> Result<AsyncTask<CompressTask>, EngineCode> {
        let writer = self.writer.take().ok_or_else(|| Error::new(EngineCode::BadInput, "this checkpoint was compressed already".to_string()))?;
        Ok(AsyncTask::new(CompressTask { writer: Some(writer) }))
    }
}

pub struct CompressTask {
    writer: Option<Writer>,
}

impl Task for CompressTask {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Vec<u8>> {
        let writer = self.writer.take().ok_or_else(|| Error::from_reason("task ran twice"))?;
        unwind_to_error(|| writer.finish())
    }

    fn resolve(&mut self, _env: Env, frame: Vec<u8>) -> Result<Buffer> {
        Ok(frame.into())
    }
}
