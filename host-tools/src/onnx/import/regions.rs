//! Element-wise regions: connected chains of element-wise ONNX ops whose only non-constant
//! operand is one sample-path tensor `x`. Each tensor such a chain hands to the rest of the
//! graph is a function of `x` alone, so it becomes one lookup-table activation, whatever
//! ops the exporter spelled it with (GELU's erf and tanh forms from either exporter, SiLU as
//! `Sigmoid * x`, `HardSwish`, `Mish`, ...).

use crate::ir::elementwise::{Binary, Expr, Step, Unary};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::NodeProto;

/// A node's element-wise function of its operands, or `None` when the op is not one.
/// `attr_f(name)` reads a float attribute, `consts(k)` the scalar value of operand `k` when
/// it is a constant.
pub fn step_kind(
    n: &NodeProto,
    attr_f: impl Fn(&str) -> Option<f32>,
    attr_s: impl Fn(&str) -> Option<String>,
    consts: impl Fn(usize) -> Option<f64>,
) -> Option<Kind> {
    let f = |name: &str, default: f64| attr_f(name).map_or(default, f64::from);
    Some(match n.op_type.as_str() {
        "Neg" => Kind::Unary(Unary::Neg),
        "Abs" => Kind::Unary(Unary::Abs),
        "Exp" => Kind::Unary(Unary::Exp),
        "Log" => Kind::Unary(Unary::Log),
        "Sqrt" => Kind::Unary(Unary::Sqrt),
        "Reciprocal" => Kind::Unary(Unary::Reciprocal),
        "Sigmoid" => Kind::Unary(Unary::Sigmoid),
        "Tanh" => Kind::Unary(Unary::Tanh),
        "Erf" => Kind::Unary(Unary::Erf),
        "Relu" => Kind::Unary(Unary::Relu),
        "Softplus" => Kind::Unary(Unary::Softplus),
        "Softsign" => Kind::Unary(Unary::Softsign),
        "HardSwish" => Kind::Unary(Unary::HardSwish),
        "Mish" => Kind::Unary(Unary::Mish),
        "Sin" => Kind::Unary(Unary::Sin),
        "Cos" => Kind::Unary(Unary::Cos),
        "LeakyRelu" => Kind::Unary(Unary::LeakyRelu(f("alpha", 0.01))),
        "Elu" => Kind::Unary(Unary::Elu(f("alpha", 1.0))),
        "HardSigmoid" => Kind::Unary(Unary::HardSigmoid(f("alpha", 0.2), f("beta", 0.5))),
        "Gelu" => Kind::Unary(Unary::Gelu(
            attr_s("approximate").as_deref() == Some("tanh"),
        )),
        "Clip" => {
            // opset >= 11: optional constant min / max operands; before: attributes.
            let lo = consts(1).unwrap_or_else(|| f("min", f64::NEG_INFINITY));
            let hi = consts(2).unwrap_or_else(|| f("max", f64::INFINITY));
            Kind::Clip(lo, hi)
        }
        "Add" => Kind::Binary(Binary::Add),
        "Sub" => Kind::Binary(Binary::Sub),
        "Mul" => Kind::Binary(Binary::Mul),
        "Div" => Kind::Binary(Binary::Div),
        "Pow" => Kind::Binary(Binary::Pow),
        "Max" if n.input.len() == 2 => Kind::Binary(Binary::Max),
        "Min" if n.input.len() == 2 => Kind::Binary(Binary::Min),
        _ => return None,
    })
}

/// What an element-wise node computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A function of operand 0.
    Unary(Unary),
    /// `min(max(operand 0, lo), hi)`; operands 1 and 2 are its bounds.
    Clip(f64, f64),
    /// A function of operands 0 and 1.
    Binary(Binary),
}

/// One element-wise node of a region: its kind, operands and output.
#[derive(Clone, Debug)]
pub struct RegionNode {
    /// What it computes.
    pub kind: Kind,
    /// Operand tensor names (Clip: only the first).
    pub inputs: Vec<String>,
    /// Output tensor name.
    pub output: String,
}

/// Builds the expression of `target` over the region's nodes, from `x` and scalar
/// constants (`scalar(name)`).
pub fn expr_of(
    target: &str,
    x: &str,
    nodes: &[RegionNode],
    scalar: &impl Fn(&str) -> Option<f64>,
) -> Option<Expr> {
    fn go(
        name: &str,
        x: &str,
        by_out: &HashMap<&str, &RegionNode>,
        scalar: &impl Fn(&str) -> Option<f64>,
        steps: &mut Vec<Step>,
        memo: &mut HashMap<String, usize>,
    ) -> Option<usize> {
        if let Some(i) = memo.get(name) {
            return Some(*i);
        }
        let step = if name == x {
            Step::Input
        } else if let Some(n) = by_out.get(name) {
            let mut arg = |k: usize| go(n.inputs.get(k)?, x, by_out, scalar, steps, memo);
            match n.kind {
                Kind::Unary(u) => Step::Unary(u, arg(0)?),
                Kind::Clip(lo, hi) => Step::Unary(Unary::Clip(lo, hi), arg(0)?),
                Kind::Binary(b) => {
                    let a = arg(0)?;
                    Step::Binary(b, a, arg(1)?)
                }
            }
        } else {
            Step::Const(scalar(name)?)
        };
        steps.push(step);
        memo.insert(name.to_string(), steps.len() - 1);
        Some(steps.len() - 1)
    }
    let by_out: HashMap<&str, &RegionNode> = nodes.iter().map(|n| (n.output.as_str(), n)).collect();
    let mut steps = vec![];
    go(target, x, &by_out, scalar, &mut steps, &mut HashMap::new())?;
    Some(Expr { steps })
}

/// The tensors of a region read outside it (`outside(name)`), in node order.
pub fn escaping(nodes: &[RegionNode], outside: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = HashSet::new();
    nodes
        .iter()
        .map(|n| n.output.clone())
        .filter(|o| outside(o) && seen.insert(o.clone()))
        .collect()
}
