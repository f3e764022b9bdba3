//! The UCI 8x8 digits (vendored in `models/data/digits.csv.gz`, CC BY 4.0): 1797 images of
//! 64 pixels in 0..16 and their labels.

use crate::error::Error;
use crate::train::BatchSource;
use flate2::read::GzDecoder;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::io::Read;
use std::path::Path;

/// The default location, relative to the repository root.
pub const DEFAULT_PATH: &str = "models/data/digits.csv.gz";

/// Digits scaled to [-1, 1], with labels.
#[derive(Clone, Debug)]
pub struct Digits {
    /// `n x 64` pixels in [-1, 1].
    pub images: Vec<f32>,
    /// Labels 0..9.
    pub labels: Vec<u32>,
    /// Train on class labels (conditional model).
    pub conditional: bool,
}

impl Digits {
    /// Reads the gzipped CSV.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let gz = crate::files::read(path)?;
        let mut text = String::new();
        GzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| Error::Input(format!("{}: not a gzipped CSV ({e})", path.display())))?;
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for (line_no, line) in text.lines().enumerate() {
            let vals: Vec<&str> = line.split(',').collect();
            if vals.len() != 65 {
                return Err(Error::Input(format!(
                    "{}: line {}: {} columns, expected 65",
                    path.display(),
                    line_no + 1,
                    vals.len()
                )));
            }
            for v in &vals[..64] {
                let p: f32 = v.trim().parse().map_err(|_| {
                    Error::Input(format!(
                        "{}: line {}: `{v}` is not a number",
                        path.display(),
                        line_no + 1
                    ))
                })?;
                images.push(p / 8.0 - 1.0);
            }
            labels.push(vals[64].trim().parse().map_err(|_| {
                Error::Input(format!(
                    "{}: line {}: bad label",
                    path.display(),
                    line_no + 1
                ))
            })?);
        }
        Ok(Self {
            images,
            labels,
            conditional: false,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

impl BatchSource for Digits {
    fn dim(&self) -> usize {
        64
    }
    fn num_classes(&self) -> usize {
        if self.conditional { 10 } else { 0 }
    }
    fn batch(&mut self, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * 64);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let i = (rng.next_u64() % self.len().max(1) as u64) as usize;
            x.extend_from_slice(&self.images[i * 64..(i + 1) * 64]);
            y.push(self.labels[i]);
        }
        if !self.conditional {
            y.clear();
        }
        (x, y)
    }
}
