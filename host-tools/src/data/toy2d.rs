//! The 2-D toy data sets the trainer and the evaluators draw from, generated in-project.

use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A 2-D toy distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Toy2d {
    /// Two interleaved half circles (scikit-learn's `make_moons` layout) with noise 0.05,
    /// centred and scaled to unit spread.
    TwoMoons,
    /// A 2-D swiss roll, scaled to roughly unit spread.
    SwissRoll,
    /// Eight Gaussians on a circle of radius 2, standard deviation 0.1.
    EightGaussians,
    /// A 4 x 4 checkerboard on [-2, 2]^2, uniform on the dark squares.
    Checkerboard,
}

impl Toy2d {
    /// `n` points, interleaved `x, y`, from a seeded stream.
    pub fn sample(self, n: usize, seed: u64) -> Vec<f32> {
        if self == Toy2d::EightGaussians {
            return super::GaussianMixture::eight_gaussians().sample(n, seed);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut normal = GaussianNoise::new(seed ^ 0x5eed);
        let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut gauss = move || f64::from(normal.next_normal().unwrap_or(0.0));
        let mut out = Vec::with_capacity(2 * n);
        for i in 0..n {
            let (x, y) = match self {
                Toy2d::TwoMoons => {
                    let a = std::f64::consts::PI * uniform();
                    let (x, y) = if i % 2 == 0 {
                        (a.cos(), a.sin())
                    } else {
                        (1.0 - a.cos(), 0.5 - a.sin())
                    };
                    (
                        (x - 0.5 + 0.05 * gauss()) * 1.4,
                        (y - 0.25 + 0.05 * gauss()) * 1.4,
                    )
                }
                Toy2d::SwissRoll => {
                    let t = 1.5 * std::f64::consts::PI * (1.0 + 2.0 * uniform());
                    let (x, y) = (t * t.cos(), t * t.sin());
                    ((x + 0.5 * gauss()) / 6.0, (y + 0.5 * gauss()) / 6.0)
                }
                Toy2d::Checkerboard => {
                    let x = 4.0 * uniform() - 2.0;
                    let mut y = 4.0 * uniform() - 2.0;
                    // Move the point to a dark square: flip a row when the parity is light.
                    if ((x + 2.0).floor() as i64 + (y + 2.0).floor() as i64) % 2 == 1 {
                        y = if y >= 1.0 { y - 1.0 } else { y + 1.0 };
                    }
                    (x, y)
                }
                Toy2d::EightGaussians => (0.0, 0.0),
            };
            out.push(x as f32);
            out.push(y as f32);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sets_are_deterministic_and_roughly_unit_scale() {
        for d in [
            Toy2d::TwoMoons,
            Toy2d::SwissRoll,
            Toy2d::EightGaussians,
            Toy2d::Checkerboard,
        ] {
            let a = d.sample(2000, 1);
            assert_eq!(a, d.sample(2000, 1));
            let var = a.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / a.len() as f64;
            assert!((0.2..5.0).contains(&var), "{d:?}: second moment {var}");
        }
    }
}
