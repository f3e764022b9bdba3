//! Calibration along real sampling trajectories: the float network runs inside the sampler
//! (same plan as the device), and every tensor's values are recorded at every step.
//!
//! Min-max ranges from a few hundred trajectories only cover the starting noise those
//! trajectories drew. A rarer, larger `x_T` (a 2-D sample with |x_T| = 4 is a 1-in-3,000
//! event) then drives hidden activations past their calibrated range, the clipped network
//! predicts the wrong noise, and the trajectory runs away (measured on two-moons: 4 of 10,000
//! int8 samples ended at |x| > 3, up to 85, which doubled the sliced W1). So calibration also
//! runs *tail* trajectories whose noise is scaled by [`CalibConfig::tail_scale`], covering the
//! inputs the quantized network will meet once in many thousand samples.

use super::IO_RANGE;
use crate::error::Error;
use crate::ir::{FOp, FloatGraph};
use crate::model::FloatDenoiser;
use crate::sampling::Job;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::pack::layout::EmbedIndex;
use edgediff_runtime::sampler::plan::Plan;

/// How ranges are taken from the recorded values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeRule {
    /// Minimum and maximum.
    MinMax,
    /// The given lower and upper percentiles (e.g. 0.01 and 99.99).
    Percentile(f64),
}

/// Activation ranges per row (sampling step, or a single row) and tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    ranges: Vec<Vec<(f32, f32)>>,
}

impl Ranges {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.ranges.len()
    }

    /// Range of `tensor` at `row`.
    pub fn get(&self, row: usize, tensor: usize) -> (f32, f32) {
        self.ranges[row][tensor]
    }

    /// Range of `tensor` over all rows.
    pub fn union(&self, tensor: usize) -> (f32, f32) {
        self.ranges
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r[tensor].0), hi.max(r[tensor].1))
            })
    }
}

/// Most values kept per (step, tensor) for percentiles; beyond, every k-th value is kept.
const KEEP: usize = 1 << 16;

/// Keeps up to about `2 * KEEP` values per (step, tensor), every k-th beyond `KEEP`.
struct Store {
    values: Vec<Vec<Vec<f32>>>,
    seen: Vec<Vec<usize>>,
}

impl Store {
    fn record(&mut self, step: usize, vals: &[Vec<f32>]) {
        for (t, v) in vals.iter().enumerate() {
            for x in v {
                let seen = &mut self.seen[step][t];
                *seen += 1;
                let stride = (*seen / KEEP) + 1;
                if (*seen).is_multiple_of(stride) && self.values[step][t].len() < 2 * KEEP {
                    self.values[step][t].push(*x);
                }
            }
        }
    }
}

/// What calibration runs and how it turns values into ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibConfig {
    /// Trajectories with standard noise.
    pub samples: usize,
    /// Classifier-free guidance scale the sampler will use.
    pub guidance: f32,
    /// Range rule.
    pub rule: RangeRule,
    /// One row of ranges per sampling step (else one row).
    pub per_step: bool,
    /// Noise seed.
    pub seed: u64,
    /// Half as many extra trajectories run with every noise draw scaled by this factor
    /// (1: none).
    pub tail_scale: f32,
}

impl CalibConfig {
    /// Min-max over `samples` trajectories plus the default tail, one row, seed 0.
    pub fn new(samples: usize) -> Self {
        Self {
            samples,
            guidance: 1.0,
            rule: RangeRule::MinMax,
            per_step: false,
            seed: 0,
            tail_scale: DEFAULT_TAIL_SCALE,
        }
    }
}

/// Default noise scale of the tail trajectories. On two-moons (1,024 trajectories, 10,000
/// samples, seeds 0/1) 1.25 took the int8 sliced W1 from 0.0436/0.0498 to 0.0314/0.0385 (float
/// 0.0216/0.0240) and the runaway samples from 4 to 1 (|x| 3.5 instead of 85); 1.5 removed
/// them all but cost resolution (0.0382/0.0439) and 2.0 more (0.0655/0.0738). In 64
/// dimensions the norm of `x_T` concentrates and the shipped digits models use 1 (none).
pub const DEFAULT_TAIL_SCALE: f32 = 1.25;

/// Gaussian noise scaled by a constant.
struct Scaled {
    inner: GaussianNoise,
    scale: f32,
}

impl NoiseSource for Scaled {
    fn next_normal(&mut self) -> edgediff_runtime::Result<f32> {
        Ok(self.inner.next_normal()? * self.scale)
    }
}

/// Runs the trajectories of `cfg` through `plan` with the float network and returns the
/// ranges, one row per step when `cfg.per_step`, else one row.
pub fn calibrate(g: &FloatGraph, plan: &Plan, cfg: &CalibConfig) -> Result<Ranges, Error> {
    let CalibConfig {
        samples,
        guidance,
        rule,
        per_step,
        seed,
        tail_scale,
    } = *cfg;
    let steps = plan.rows.len();
    let n = g.tensors.len();
    let mut store = Store {
        values: vec![vec![vec![]; n]; steps],
        seen: vec![vec![0; n]; steps],
    };
    let labels: Vec<u16> = if g.num_classes > 0 {
        (0..samples)
            .map(|i| (i % usize::from(g.num_classes)) as u16)
            .collect()
    } else {
        vec![]
    };
    let job = Job {
        plan,
        prediction: g.prediction,
        clip_sample: None,
        dim: g.tensors[g.input].len(),
        n: samples,
        labels: &labels,
        seed,
    };
    {
        let mut observe = |step: usize, vals: &[Vec<f32>]| store.record(step, vals);
        let mut den = FloatDenoiser {
            graph: g,
            guidance,
            observe: Some(&mut observe),
        };
        job.run(&mut den)?;
        if tail_scale != 1.0 {
            let tail = Job {
                n: samples.div_ceil(2),
                labels: labels.get(..samples.div_ceil(2)).unwrap_or(&[]),
                ..job
            };
            let mut noise = Scaled {
                inner: GaussianNoise::new(seed ^ 0x7a11),
                scale: tail_scale,
            };
            tail.run_with_noise(&mut den, None, &mut |_, _| {}, &mut noise)?;
        }
    }
    // Embedding tables are known exactly: their ranges come from the tables themselves.
    let range_of = |v: &mut Vec<f32>| -> (f32, f32) {
        if v.is_empty() {
            return (0.0, 0.0);
        }
        match rule {
            RangeRule::MinMax => v
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(*x), hi.max(*x))
                }),
            RangeRule::Percentile(p) => {
                v.sort_by(f32::total_cmp);
                let at = |q: f64| v[((q / 100.0) * (v.len() - 1) as f64).round() as usize];
                (at(100.0 - p), at(p))
            }
        }
    };
    let mut per: Vec<Vec<(f32, f32)>> = store
        .values
        .iter_mut()
        .map(|row| row.iter_mut().map(range_of).collect())
        .collect();
    for op in &g.ops {
        if let FOp::Embed { output, table, by } = op {
            let len = g.tensors[*output].len().max(1);
            // The rows of one step (all of them when the table does not depend on the step).
            let labels = usize::from(g.num_classes) + 1;
            for (step, row) in per.iter_mut().enumerate() {
                let vals: &[f32] = match by {
                    EmbedIndex::Const | EmbedIndex::Class => table,
                    EmbedIndex::Step => table.get(step * len..(step + 1) * len).unwrap_or(&[]),
                    EmbedIndex::StepClass => table
                        .get(step * labels * len..(step + 1) * labels * len)
                        .unwrap_or(&[]),
                };
                row[*output] = vals
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
                        (lo.min(*x), hi.max(*x))
                    });
            }
        }
    }
    // The network input covers its noise at every step, the output +-IO_RANGE.
    for (row, step) in per.iter_mut().zip(&plan.rows) {
        let s = IO_RANGE * step.sigma;
        let x = &mut row[g.input];
        *x = (x.0.min(-s), x.1.max(s));
        let y = &mut row[g.output];
        *y = (y.0.min(-IO_RANGE), y.1.max(IO_RANGE));
    }
    let ranges = if per_step {
        per
    } else {
        vec![
            (0..n)
                .map(|t| {
                    per.iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| {
                            (lo.min(r[t].0), hi.max(r[t].1))
                        })
                })
                .collect(),
        ]
    };
    Ok(Ranges { ranges })
}
