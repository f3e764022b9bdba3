//! Ops that move or select values without arithmetic (Transpose, Reshape as a copy, one-axis
//! slices, max pooling), the same in the float and the int8 graph: the host runs the device's
//! own functions on `f32`, and the int8 output keeps its input's quantization.

use edgediff_runtime::kernels::reference::{
    ConvGeometry, SliceGeometry, max_pool, slice, transpose,
};
use edgediff_runtime::pack::layout::{OpKind, conv};

/// How a movement op reads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Movement {
    /// The input viewed as `dims` (row-major), output axis `i` = input axis `perm[i]`.
    Transpose {
        /// The input's view, up to four axes (leading 1s).
        dims: [usize; 4],
        /// The permutation.
        perm: [usize; 4],
    },
    /// `[outer, axis, inner] -> [outer, len, inner]` from `start`.
    Slice(SliceGeometry),
    /// The largest value under each window (per channel; `out_c = in_c`, one group).
    MaxPool(ConvGeometry),
}

impl Movement {
    /// Applies the op to `x` (the whole input) into `y` (the whole output).
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        match self {
            Movement::Transpose { dims, perm } => transpose(x, *dims, *perm, y),
            Movement::Slice(g) => slice(x, g, y),
            Movement::MaxPool(g) => max_pool(x, g, f32::NEG_INFINITY, y),
        }
    }

    /// The pack op kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Movement::Transpose { .. } => OpKind::Transpose,
            Movement::Slice(_) => OpKind::Slice,
            Movement::MaxPool(_) => OpKind::MaxPool,
        }
    }

    /// The pack record's attributes and extra word (values that do not fit are `None`).
    pub fn record(&self) -> Option<([u16; 4], u32)> {
        let u16s = |v: [usize; 4]| -> Option<[u16; 4]> {
            let [a, b, c, d] = v.map(|x| u16::try_from(x).ok());
            Some([a?, b?, c?, d?])
        };
        match self {
            Movement::Transpose { dims, perm } => {
                Some((u16s(*dims)?, u32::from_le_bytes(perm.map(|p| p as u8))))
            }
            Movement::Slice(g) => Some((
                u16s([g.axis, g.start, g.len, 0])?,
                u32::try_from(g.inner).ok()?,
            )),
            Movement::MaxPool(g) => conv::encode(&g.spec()),
        }
    }
}
