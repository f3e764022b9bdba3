//! ONNX external data: tensors whose bytes live in a side file (`model.onnx.data`, as
//! PyTorch's default exporter writes them), read into the model so every later stage sees one
//! self-contained `ModelProto`.

use crate::error::Error;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use tract_onnx::pb::{ModelProto, TensorProto, tensor_proto::DataLocation};

/// Reads every external tensor of `model` (read from `path`) into its `raw_data`.
///
/// Locations are resolved relative to the model's folder and must stay inside it. Errors
/// name the model, the tensor and the side file (missing, or shorter than the recorded
/// offset + length).
pub fn inline(model: &mut ModelProto, path: &Path) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path.display();
    let mut side_files: HashMap<PathBuf, Vec<u8>> = HashMap::new();
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    let constants = graph
        .node
        .iter_mut()
        .flat_map(|n| n.attribute.iter_mut())
        .filter_map(|a| a.t.as_mut());
    for t in graph.initializer.iter_mut().chain(constants) {
        if t.data_location != Some(DataLocation::External as i32) {
            continue;
        }
        let bad = |what: String| Error::Input(format!("{file}: tensor `{}`: {what}", t.name));
        let key = |k: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == k)
                .map(|e| e.value.clone())
        };
        let location = key("location")
            .ok_or_else(|| bad("external data without a `location` entry".into()))?;
        let number = |k: &str| -> Result<Option<usize>, Error> {
            key(k)
                .map(|v| {
                    v.parse::<usize>()
                        .map_err(|_| bad(format!("external data {k} `{v}` is not a number")))
                })
                .transpose()
        };
        let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
        let rel = Path::new(&location);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(bad(format!(
                "external data location `{location}` must be a plain relative path inside the \
                 model's folder"
            )));
        }
        let side = dir.join(rel);
        if !side_files.contains_key(&side) {
            let bytes = std::fs::read(&side).map_err(|e| {
                bad(format!(
                    "its weights are in the side file `{}`, which cannot be read ({e}); keep \
                     the `.onnx.data` file beside the `.onnx`",
                    side.display()
                ))
            })?;
            side_files.insert(side.clone(), bytes);
        }
        let bytes = &side_files[&side];
        let end = length.map_or(Some(bytes.len()), |l| offset.checked_add(l));
        let data = end.and_then(|end| bytes.get(offset..end)).ok_or_else(|| {
            bad(format!(
                "external data at offset {offset}, length {length:?} is past the end of `{}` \
                     ({} bytes)",
                side.display(),
                bytes.len()
            ))
        })?;
        t.raw_data = data.to_vec();
        t.data_location = Some(DataLocation::Default as i32);
        t.external_data.clear();
    }
    Ok(())
}

/// Whether any initializer of `model` still refers to external data.
pub fn has_external(model: &ModelProto) -> bool {
    model.graph.as_ref().is_some_and(|g| {
        g.initializer
            .iter()
            .any(|t: &TensorProto| t.data_location == Some(DataLocation::External as i32))
    })
}
