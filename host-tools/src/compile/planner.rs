//! Arena planning: liveness of every activation, greedy placement (largest first), reuse.
//!
//! Time runs over op slots: slot 0 is "before the first op" (the input is written), slot `i + 1`
//! is op `i`. A tensor is live from the slot that writes it to the last slot that reads it (the
//! output stays live to the end). Two tensors may share bytes only when their live ranges are
//! disjoint, so an op's output never overlaps its inputs.

use crate::ir::QGraph;
use edgediff_runtime::pack::layout::ARENA_ALIGN;

/// Where every tensor lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    /// Byte offset of each tensor.
    pub offsets: Vec<usize>,
    /// Arena bytes of the plan.
    pub total: usize,
    /// The largest sum of simultaneously live (aligned) tensor sizes: no plan can do better.
    pub lower_bound: usize,
}

/// Live range `[first, last]` (inclusive, in op slots) of each tensor of `g`.
pub fn lifetimes(g: &QGraph) -> Vec<(usize, usize)> {
    let n = g.tensors.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    if let Some(f) = first.get_mut(g.input) {
        *f = 0;
    }
    for (i, op) in g.ops.iter().enumerate() {
        let slot = i + 1;
        let out = op.output();
        if let Some(f) = first.get_mut(out) {
            *f = (*f).min(slot);
        }
        for t in op.inputs() {
            if let Some(l) = last.get_mut(t) {
                *l = (*l).max(slot);
            }
        }
    }
    if let Some(l) = last.get_mut(g.output) {
        *l = g.ops.len() + 1;
    }
    first
        .into_iter()
        .zip(last)
        .map(|(f, l)| {
            let f = if f == usize::MAX { 0 } else { f };
            (f, l.max(f))
        })
        .collect()
}

fn align(n: usize) -> usize {
    n.div_ceil(ARENA_ALIGN) * ARENA_ALIGN
}

/// Plans `sizes` with live ranges `life`.
pub fn plan(sizes: &[usize], life: &[(usize, usize)]) -> ArenaPlan {
    let n = sizes.len();
    let sizes: Vec<usize> = sizes.iter().map(|s| align(*s)).collect();
    let overlaps = |a: usize, b: usize| life[a].0 <= life[b].1 && life[b].0 <= life[a].1;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i]), life[i].0, i));
    let mut offsets = vec![0usize; n];
    let mut placed: Vec<usize> = Vec::with_capacity(n);
    for &i in &order {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| overlaps(i, j))
            .map(|&j| (offsets[j], offsets[j] + sizes[j]))
            .collect();
        busy.sort_unstable();
        let mut at = 0;
        for (start, end) in busy {
            if start >= at + sizes[i] {
                break;
            }
            at = at.max(end);
        }
        offsets[i] = at;
        placed.push(i);
    }
    let total = (0..n).map(|i| offsets[i] + sizes[i]).max().unwrap_or(0);
    let slots = life.iter().map(|l| l.1).max().unwrap_or(0);
    let lower_bound = (0..=slots)
        .map(|s| {
            (0..n)
                .filter(|&i| life[i].0 <= s && s <= life[i].1)
                .map(|i| sizes[i])
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    ArenaPlan {
        offsets,
        total,
        lower_bound,
    }
}

/// Plans the activations of `g`.
pub fn plan_graph(g: &QGraph) -> ArenaPlan {
    let sizes: Vec<usize> = g.tensors.iter().map(|t| t.len()).collect();
    plan(&sizes, &lifetimes(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_ping_pongs_between_two_buffers() {
        // t0 -> t1 -> t2 -> t3, sizes 64, 32, 64, 16.
        let sizes = [64, 32, 64, 16];
        let life = [(0, 1), (1, 2), (2, 3), (3, 4)];
        let p = plan(&sizes, &life);
        assert_eq!(p.lower_bound, 96);
        assert_eq!(p.total, 96);
        for a in 0..4 {
            for b in 0..4 {
                let disjoint_time = life[a].1 < life[b].0 || life[b].1 < life[a].0;
                let disjoint_space = p.offsets[a] + sizes[a] <= p.offsets[b]
                    || p.offsets[b] + sizes[b] <= p.offsets[a];
                assert!(
                    a == b || disjoint_time || disjoint_space,
                    "{a} and {b} collide"
                );
            }
        }
    }

    #[test]
    fn a_skip_connection_stays_live() {
        // t0 is read again by the last op: it may not be reused in between.
        let sizes = [40, 40, 40, 40];
        let life = [(0, 3), (1, 2), (2, 3), (3, 4)];
        let p = plan(&sizes, &life);
        assert_eq!(p.lower_bound, 120);
        assert_eq!(p.total, 120);
        assert_ne!(p.offsets[0], p.offsets[1]);
        assert_ne!(p.offsets[0], p.offsets[2]);
    }
}
