//! Sample-quality metrics.

pub mod classifier;
pub mod elbo;
pub mod frechet;
pub mod mmd;
pub mod swd;

use crate::data::Toy2d;
use mmd::mmd2_rbf;
use swd::sliced_w1;

/// Sliced W1, MMD and their noise floors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quality2d {
    /// Sliced Wasserstein-1 between samples and fresh data.
    pub sw1: f64,
    /// The same between two independent data draws.
    pub sw1_floor: f64,
    /// RBF MMD^2 (bandwidth 0.2, 2000 points).
    pub mmd2: f64,
    /// The same between two independent data draws.
    pub mmd2_floor: f64,
}

/// Measures 2-D samples against `data`.
pub fn quality_2d(samples: &[f32], data: Toy2d, seed: u64) -> Quality2d {
    let n = samples.len() / 2;
    let fresh = data.sample(n, seed ^ 0xda7a);
    let other = data.sample(n, seed ^ 0xf100);
    let sw = |a: &[f32], b: &[f32]| sliced_w1(a, b, 2, 64, 7).unwrap_or(f64::NAN);
    Quality2d {
        sw1: sw(samples, &fresh),
        sw1_floor: sw(&other, &fresh),
        mmd2: mmd2_rbf(samples, &fresh, 2, 0.2, 2000),
        mmd2_floor: mmd2_rbf(&other, &fresh, 2, 0.2, 2000),
    }
}
