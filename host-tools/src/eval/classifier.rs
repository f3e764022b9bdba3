//! A small digits classifier (64 -> 64 ReLU -> 10), trained in-project with candle, whose
//! hidden layer provides the features of the Fréchet distance and whose predictions give the
//! label accuracy of conditional samples and the class histogram of unconditional ones.

use super::frechet::frechet_distance;
use crate::data::digits::Digits;
use crate::error::Error;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::path::Path;

/// Hidden width (the feature dimension).
pub const HIDDEN: usize = 64;
/// Images used for training; the rest (360) are held out.
pub const TRAIN_ROWS: usize = 1437;

/// The trained weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

fn ce(e: candle_core::Error) -> Error {
    Error::Input(format!("classifier: {e}"))
}

impl Classifier {
    /// Hidden ReLU activations of one image (64 pixels in [-1, 1]).
    pub fn features(&self, x: &[f32]) -> Vec<f64> {
        (0..HIDDEN)
            .map(|o| {
                let s: f64 = self.w1[o * 64..(o + 1) * 64]
                    .iter()
                    .zip(x)
                    .map(|(w, v)| f64::from(*w) * f64::from(*v))
                    .sum();
                (s + f64::from(self.b1[o])).max(0.0)
            })
            .collect()
    }

    /// The predicted class.
    pub fn predict(&self, x: &[f32]) -> usize {
        let h = self.features(x);
        (0..10)
            .map(|c| {
                self.w2[c * HIDDEN..(c + 1) * HIDDEN]
                    .iter()
                    .zip(&h)
                    .map(|(w, v)| f64::from(*w) * v)
                    .sum::<f64>()
                    + f64::from(self.b2[c])
            })
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (c, v)| {
                if v > best.1 { (c, v) } else { best }
            })
            .0
    }

    /// Trains on the first [`TRAIN_ROWS`] digits; returns the classifier and its held-out
    /// accuracy.
    pub fn train(d: &Digits, steps: usize, seed: u64) -> Result<(Self, f64), Error> {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        {
            let mut g = GaussianNoise::new(seed);
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::Input("poisoned lock".into()))?;
            let mut init = |name: &str, shape: (usize, usize), scale: f32| -> Result<(), Error> {
                let v: Vec<f32> = (0..shape.0 * shape.1)
                    .map(|_| g.next_normal().unwrap_or(0.0) * scale)
                    .collect();
                let t = Tensor::from_vec(v, shape, &dev).map_err(ce)?;
                data.insert(name.into(), Var::from_tensor(&t).map_err(ce)?);
                Ok(())
            };
            init("l1.weight", (HIDDEN, 64), 0.125)?;
            init("l1.bias", (1, HIDDEN), 0.0)?;
            init("l2.weight", (10, HIDDEN), 0.125)?;
            init("l2.bias", (1, 10), 0.0)?;
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let l1 = candle_nn::Linear::new(
            vb.get((HIDDEN, 64), "l1.weight").map_err(ce)?,
            Some(
                vb.get((1, HIDDEN), "l1.bias")
                    .map_err(ce)?
                    .flatten_all()
                    .map_err(ce)?,
            ),
        );
        let l2 = candle_nn::Linear::new(
            vb.get((10, HIDDEN), "l2.weight").map_err(ce)?,
            Some(
                vb.get((1, 10), "l2.bias")
                    .map_err(ce)?
                    .flatten_all()
                    .map_err(ce)?,
            ),
        );
        let mut opt = AdamW::new(
            varmap.all_vars(),
            ParamsAdamW {
                lr: 3e-3,
                weight_decay: 1e-4,
                ..Default::default()
            },
        )
        .map_err(ce)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let b = 128;
        for _ in 0..steps {
            let idx: Vec<usize> = (0..b)
                .map(|_| (rng.next_u64() % TRAIN_ROWS as u64) as usize)
                .collect();
            let x: Vec<f32> = idx
                .iter()
                .flat_map(|i| d.images[i * 64..(i + 1) * 64].iter().copied())
                .collect();
            let y: Vec<u32> = idx.iter().map(|i| d.labels[*i]).collect();
            (|| -> candle_core::Result<()> {
                let x = Tensor::from_vec(x, (b, 64), &dev)?;
                let y = Tensor::from_vec(y, b, &dev)?;
                let logits = l2.forward(&l1.forward(&x)?.relu()?)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
                opt.backward_step(&loss)
            })()
            .map_err(ce)?;
        }
        let get = |t: &Tensor| t.flatten_all().and_then(|f| f.to_vec1::<f32>()).map_err(ce);
        let c = Classifier {
            w1: get(l1.weight())?,
            b1: get(l1.bias().ok_or_else(|| Error::Input("no bias".into()))?)?,
            w2: get(l2.weight())?,
            b2: get(l2.bias().ok_or_else(|| Error::Input("no bias".into()))?)?,
        };
        let held = d.len() - TRAIN_ROWS;
        let correct = (TRAIN_ROWS..d.len())
            .filter(|i| c.predict(&d.images[i * 64..(i + 1) * 64]) == d.labels[*i] as usize)
            .count();
        Ok((c, correct as f64 / held as f64))
    }

    /// Little-endian f32 weights: w1, b1, w2, b2.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.w1, &self.b1, &self.w2, &self.b2]
            .iter()
            .flat_map(|v| v.iter().flat_map(|x| x.to_le_bytes()))
            .collect()
    }

    /// Reads the file written from [`Classifier::to_bytes`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let b = crate::files::read(path)?;
        let n = [HIDDEN * 64, HIDDEN, 10 * HIDDEN, 10];
        if b.len() != 4 * n.iter().sum::<usize>() {
            return Err(Error::Input(format!(
                "{}: {} bytes, expected {} (a digits classifier)",
                path.display(),
                b.len(),
                4 * n.iter().sum::<usize>()
            )));
        }
        let mut f = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |k: usize| (0..k).filter_map(|_| f.next()).collect::<Vec<f32>>();
        Ok(Classifier {
            w1: take(n[0]),
            b1: take(n[1]),
            w2: take(n[2]),
            b2: take(n[3]),
        })
    }
}

/// Quality of digit samples.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitsQuality {
    /// Fréchet distance of classifier features: samples vs all real digits.
    pub fd: f64,
    /// The same between the two halves of the real digits (the noise floor).
    pub fd_floor: f64,
    /// Fraction classified as the requested label (conditional samples).
    pub label_accuracy: Option<f64>,
    /// Predicted class counts.
    pub histogram: [usize; 10],
}

/// Measures samples (64 values each) against the real digits.
pub fn quality_digits(
    c: &Classifier,
    samples: &[f32],
    labels: &[u16],
    real: &Digits,
) -> DigitsQuality {
    let feats =
        |x: &[f32]| -> Vec<f64> { x.chunks_exact(64).flat_map(|r| c.features(r)).collect() };
    let all = feats(&real.images);
    let fd = frechet_distance(&feats(samples), &all, HIDDEN);
    let half = (real.len() / 2) * HIDDEN;
    let fd_floor = frechet_distance(&all[..half], &all[half..], HIDDEN);
    let mut histogram = [0usize; 10];
    let mut correct = 0;
    for (i, r) in samples.chunks_exact(64).enumerate() {
        let p = c.predict(r);
        histogram[p] += 1;
        correct += usize::from(labels.get(i).is_some_and(|l| usize::from(*l) == p));
    }
    let n = samples.len() / 64;
    DigitsQuality {
        fd,
        fd_floor,
        label_accuracy: (!labels.is_empty()).then(|| correct as f64 / n as f64),
        histogram,
    }
}
