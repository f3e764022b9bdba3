//! The model pack: the on-flash format the runtime executes in place.
//!
//! A pack is one byte slice (usually `&'static [u8]` from `include_bytes!`) holding a header, a
//! section directory and the sections (see [`layout`] and `docs/pack-format.md`).
//! [`Pack::parse`] validates every offset, length, shape and op once; afterwards the engine
//! reads weights and tables straight from the slice and never copies them to RAM.

pub mod crc32;
pub mod layout;
mod reader;

pub use reader::{ACC_LIMIT, Meta, OpRecord, Pack, PackSchedule, TensorInfo};
