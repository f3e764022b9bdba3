//! Reading and writing ONNX files (the protobuf types are tract-onnx's `pb`).
//!
//! - [`build`]: a small builder for the graphs we write (float models from the trainer,
//!   quantized models from the quantizer), opset 13.
//! - [`external`]: reads the weights PyTorch's exporter keeps in a side file.
//! - [`normalize`]: fixes the input shapes and folds everything constant, with tract's
//!   analysis, so the importer matches ops on a graph without shape arithmetic.
//! - [`import`]: reads a float epsilon-network into a [`crate::ir::FloatGraph`],
//!   recognising the patterns PyTorch exports.

pub mod build;
pub mod external;
pub mod import;
pub mod metadata;
pub mod normalize;
pub mod qonnx;

use crate::error::Error;
use prost::Message;
use std::path::Path;
use tract_onnx::pb::{ModelProto, ValueInfoProto, type_proto};

/// Reads and decodes an ONNX file, with its external data (side files beside it) read in.
pub fn read_model(path: &Path) -> Result<ModelProto, Error> {
    let bytes = crate::files::read(path)?;
    if bytes.is_empty() {
        return Err(Error::Input(format!(
            "{}: empty file, not an ONNX model",
            path.display()
        )));
    }
    let mut model = ModelProto::decode(bytes.as_slice()).map_err(|e| {
        Error::Input(format!(
            "{}: not a valid ONNX protobuf ({e})",
            path.display()
        ))
    })?;
    external::inline(&mut model, path)?;
    Ok(model)
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
