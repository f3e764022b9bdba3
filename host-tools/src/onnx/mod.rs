//! Reading and writing ONNX files (the protobuf types are tract-onnx's `pb`).
//!
//! - [`build`]: a small builder for the graphs we write (float models from the trainer,
//!   quantized models from the quantizer), opset 13.
//! - [`import`]: reads a float epsilon-network into a [`crate::model::FloatGraph`],
//!   recognising the patterns PyTorch exports.

pub mod build;
pub mod import;

use crate::error::Error;
use prost::Message;
use std::path::Path;
use tract_onnx::pb::ModelProto;

/// Reads and decodes an ONNX file.
pub fn read_model(path: &Path) -> Result<ModelProto, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.is_empty() {
        return Err(Error::Input(format!(
            "{}: empty file, not an ONNX model",
            path.display()
        )));
    }
    ModelProto::decode(bytes.as_slice()).map_err(|e| {
        Error::Input(format!(
            "{}: not a valid ONNX protobuf ({e})",
            path.display()
        ))
    })
}

/// Encodes a model.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
