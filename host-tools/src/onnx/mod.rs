//! Reading and writing ONNX files (the protobuf types are tract-onnx's `pb`).
//!
//! - [`build`]: a small builder for the graphs we write (float models from the trainer,
//!   quantized models from the quantizer), opset 13.
//! - [`import`]: reads a float epsilon-network into a [`crate::model::FloatGraph`],
//!   recognising the patterns PyTorch exports.

pub mod build;
pub mod import;
pub mod qonnx;

use crate::error::Error;
use prost::Message;
use std::path::Path;
use tract_onnx::pb::{ModelProto, ValueInfoProto, type_proto};

/// Reads and decodes an ONNX file.
pub fn read_model(path: &Path) -> Result<ModelProto, Error> {
    let bytes = crate::files::read(path)?;
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

/// Element type and dimensions (-1 where symbolic) of a graph input or output.
pub fn value_dims(v: &ValueInfoProto) -> Option<(i32, Vec<i64>)> {
    let type_proto::Value::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
    let dims = t
        .shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) => v,
            _ => -1,
        })
        .collect();
    Some((t.elem_type, dims))
}
