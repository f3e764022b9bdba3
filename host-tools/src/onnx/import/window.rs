//! Sliding windows: the kernel, stride, padding and dilation attributes shared by Conv,
//! MaxPool and AveragePool (1-D windows run as `1 x k` over `[c, 1, L]`), and the two pools.
//! Max pooling selects values (a [`Movement`]); average pooling is the depthwise conv whose
//! weights are all `1 / (k_h k_w)`.

use super::ops::{Ctx, Dense, attr_i, attr_ints, attr_s, in_k, out0};
use crate::error::Error;
use crate::ir::{FOp, Movement};
use edgediff_runtime::kernels::reference::ConvSpec;
use tract_onnx::pb::NodeProto;

impl Ctx<'_> {
    /// The window of `node` over `axes` (1 or 2) with kernel `[k_h, k_w]` (`[1, k]` for one
    /// axis): strides, symmetric pads per axis and dilations from its attributes, checked
    /// against what the device runs.
    pub(super) fn window(
        &self,
        node: &NodeProto,
        axes: usize,
        [kh, kw]: [i64; 2],
    ) -> Result<ConvSpec, Error> {
        if attr_s(node, "auto_pad").is_some_and(|p| p != "NOTSET" && !p.is_empty()) {
            return Err(self.err(node, "auto_pad is not supported; use explicit pads".into()));
        }
        if attr_i(node, "ceil_mode").unwrap_or(0) != 0 {
            return Err(self.err(node, "ceil_mode = 1 is not supported".into()));
        }
        let all = |a: &str, default: i64, n: usize| attr_ints(node, a).unwrap_or(vec![default; n]);
        let (strides, pads, dilations) = (
            all("strides", 1, axes),
            all("pads", 0, 2 * axes),
            all("dilations", 1, axes),
        );
        let equal = |v: &[i64]| v.iter().all(|x| Some(x) == v.first());
        // pads are [begin per axis..., end per axis...]: symmetric when begin = end.
        let symmetric = pads.len() == 2 * axes && pads[..axes] == pads[axes..];
        let (s, d) = (strides.first().copied(), dilations.first().copied());
        if strides.len() != axes
            || dilations.len() != axes
            || !equal(&strides)
            || !equal(&dilations)
            || !symmetric
            || s.is_none_or(|s| !(1..=255).contains(&s))
            || d.is_none_or(|d| !(1..=256).contains(&d))
            || pads.iter().any(|p| !(0..=255).contains(p))
            || kh <= 0
            || kw <= 0
        {
            return Err(self.err(
                node,
                format!(
                    "strides {strides:?}, pads {pads:?}, dilations {dilations:?}, kernel \
                     [{kh}, {kw}]: need equal strides in 1..=255 and dilations in 1..=256 on \
                     every axis, the same padding (0..=255) at both ends of each axis, a \
                     positive kernel"
                ),
            ));
        }
        let pad = if axes == 1 {
            [0, pads[0] as usize]
        } else {
            [pads[0] as usize, pads[1] as usize]
        };
        Ok(ConvSpec {
            pad,
            dilation: d.unwrap_or(1) as usize,
            ..ConvSpec::new([kh as usize, kw as usize], s.unwrap_or(1) as usize, 0)
        })
    }

    /// The pooling window of `node` from its `kernel_shape`.
    fn pool_window(&self, node: &NodeProto) -> Result<ConvSpec, Error> {
        let (axes, kernel) = match attr_ints(node, "kernel_shape").as_deref() {
            Some(&[k]) => (1, [1, k]),
            Some(&[kh, kw]) => (2, [kh, kw]),
            k => {
                return Err(self.err(
                    node,
                    format!("kernel_shape {k:?}: only 1-D and 2-D pooling is supported"),
                ));
            }
        };
        self.window(node, axes, kernel)
    }

    /// MaxPool (without the indices output): a selection of values.
    pub(super) fn max_pool(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        if node.output.get(1).is_some_and(|o| !o.is_empty()) {
            return Err(self.err(node, "the indices output is not supported".into()));
        }
        let spec = self.pool_window(node)?;
        let x = self.shaped(ni, in_k(node, 0))?;
        let g = spec.on(self.tensors[x].shape, self.tensors[x].shape[0]);
        if spec.pad[0] >= spec.kernel[0] || spec.pad[1] >= spec.kernel[1] {
            return Err(self.err(node, "padding must be below the window".into()));
        }
        let (Some(oh), Some(ow)) = (g.out_h(), g.out_w()) else {
            return Err(self.err(node, format!("window larger than the input {:?}", g)));
        };
        let y = self.add_tensor(out0(node), [g.in_c, oh, ow]);
        self.ops.push(FOp::Move {
            input: x,
            output: y,
            how: Movement::MaxPool(g),
        });
        Ok(())
    }

    /// AveragePool, as the depthwise conv with weights `1 / (k_h k_w)` (padding counted, as
    /// `count_include_pad = 1` does, or no padding).
    pub(super) fn average_pool(&mut self, ni: usize) -> Result<(), Error> {
        let node = self.node_at(ni);
        let spec = self.pool_window(node)?;
        if spec.pad != [0, 0] && attr_i(node, "count_include_pad").unwrap_or(0) == 0 {
            return Err(self.err(
                node,
                "padding with count_include_pad = 0 divides by a count that varies at the \
                 edges; only count_include_pad = 1 or no padding is supported"
                    .into(),
            ));
        }
        let x = self.shaped(ni, in_k(node, 0))?;
        let c = self.tensors[x].shape[0];
        let taps = spec.kernel[0] * spec.kernel[1];
        self.dense(
            ni,
            x,
            Dense {
                weights: vec![1.0 / taps as f32; c * taps],
                bias: None,
                out_c: c,
                spec: ConvSpec { groups: c, ..spec },
            },
        )
        .map(|_| ())
    }
}
