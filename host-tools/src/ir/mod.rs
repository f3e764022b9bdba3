//! The two graphs of the pipeline, in one place: the float graph the importer builds
//! ([`float`]) and the int8 graph the quantizer makes of it ([`int8`]), over the same tensor
//! indices; the activations both run ([`activation`], read from ONNX as [`elementwise`]
//! expressions); the ops that only move values ([`movement`]).

pub mod activation;
pub mod elementwise;
pub mod float;
pub mod int8;
pub mod movement;

pub use activation::Activation;
pub use float::{FOp, FTensor, FloatGraph};
pub use int8::{QGraph, QOp, QTensor};
pub use movement::Movement;
