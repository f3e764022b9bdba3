//! Builds ONNX graphs (opset 13) with static shapes.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Tensor};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// The opset every graph we write declares.
pub const OPSET: i64 = 13;

/// An attribute value.
#[derive(Clone, Debug)]
pub enum Attr {
    /// An integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A float.
    Float(f32),
    /// A string.
    Str(&'static str),
}

/// Accumulates nodes, initializers, inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
}

/// A typed tensor declaration (graph input or output).
pub fn value_info(name: &str, elem: DataType, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(dimension::Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    /// An empty graph named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            graph: GraphProto {
                name: name.into(),
                ..Default::default()
            },
        }
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, elem: DataType, dims: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, elem, dims));
        self
    }

    /// Declares a graph output.
    pub fn output(&mut self, name: &str, elem: DataType, dims: &[i64]) -> &mut Self {
        self.graph.output.push(value_info(name, elem, dims));
        self
    }

    fn init(&mut self, name: &str, elem: DataType, dims: &[i64], raw: Vec<u8>) -> String {
        self.graph.initializer.push(TensorProto {
            name: name.into(),
            data_type: elem as i32,
            dims: dims.to_vec(),
            raw_data: raw,
            ..Default::default()
        });
        name.into()
    }

    /// An `f32` initializer; returns its name.
    pub fn init_f32(&mut self, name: &str, dims: &[i64], v: &[f32]) -> String {
        self.init(
            name,
            DataType::Float,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// An `f64` initializer.
    pub fn init_f64(&mut self, name: &str, dims: &[i64], v: &[f64]) -> String {
        self.init(
            name,
            DataType::Double,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// An `i64` initializer.
    pub fn init_i64(&mut self, name: &str, dims: &[i64], v: &[i64]) -> String {
        self.init(
            name,
            DataType::Int64,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// An `i32` initializer.
    pub fn init_i32(&mut self, name: &str, dims: &[i64], v: &[i32]) -> String {
        self.init(
            name,
            DataType::Int32,
            dims,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }

    /// An `i8` initializer.
    pub fn init_i8(&mut self, name: &str, dims: &[i64], v: &[i8]) -> String {
        self.init(
            name,
            DataType::Int8,
            dims,
            v.iter().map(|x| *x as u8).collect(),
        )
    }

    /// Adds a node; its name is its first output's.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: &[(&str, Attr)],
    ) -> &mut Self {
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: (*name).into(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => {
                        p.r#type = AttributeType::Int as i32;
                        p.i = *i;
                    }
                    Attr::Ints(v) => {
                        p.r#type = AttributeType::Ints as i32;
                        p.ints = v.clone();
                    }
                    Attr::Float(f) => {
                        p.r#type = AttributeType::Float as i32;
                        p.f = *f;
                    }
                    Attr::Str(s) => {
                        p.r#type = AttributeType::String as i32;
                        p.s = s.as_bytes().to_vec();
                    }
                }
                p
            })
            .collect();
        self.graph.node.push(NodeProto {
            name: outputs.first().copied().unwrap_or(op).into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| (*s).into()).collect(),
            output: outputs.iter().map(|s| (*s).into()).collect(),
            attribute,
            ..Default::default()
        });
        self
    }

    /// The finished model (IR version 7, opset 13).
    pub fn finish(self) -> ModelProto {
        ModelProto {
            ir_version: 7,
            producer_name: "edgediff".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            graph: Some(self.graph),
            ..Default::default()
        }
    }
}
