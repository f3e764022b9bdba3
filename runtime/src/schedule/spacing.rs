//! Timestep spacing: which training timesteps a sampler with `N` steps visits (host side).
//!
//! Matches diffusers exactly, including numpy's round-half-to-even:
//! - `linspace`: `round(linspace(0, T - 1, N))`, reversed;
//! - `leading`: `arange(N) * (T // N)`, reversed, plus `steps_offset`;
//! - `trailing`: `round(arange(T, 0, -T / N)) - 1`.
//!
//! DPM-Solver++ in diffusers lays `linspace` and `leading` out over `N + 1` points and drops the
//! last one ([`Grid::DropLast`]); the other schedulers use `N` points ([`Grid::Plain`]).

use super::betas::linspace;
use crate::{Error, Result};
use std::vec::Vec;

/// The spacing rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Spacing {
    /// Evenly spaced from `T - 1` down to 0, rounded.
    Linspace,
    /// Multiples of `T // N` counted from 0, plus `steps_offset`.
    #[default]
    Leading,
    /// Evenly spaced from `T - 1` down, so the first step is always `T - 1`.
    Trailing,
}

/// How many grid points `linspace` and `leading` lay out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// `N` points (DDPM, DDIM, Euler).
    Plain,
    /// `N + 1` points, the last (lowest) dropped (DPM-Solver++).
    DropLast,
}

/// The timesteps visited, highest first.
///
/// Errors when `steps` is 0 or the grid cannot hold `steps` distinct timesteps below
/// `train_steps` (too many steps, or an offset that pushes a timestep to `T` or beyond).
pub fn timesteps(
    spacing: Spacing,
    train_steps: usize,
    steps: usize,
    steps_offset: u32,
    grid: Grid,
) -> Result<Vec<u32>> {
    if steps == 0 || steps > train_steps {
        return Err(Error::InvalidConfig {
            field: "steps",
            expected: "between 1 and the number of training steps",
        });
    }
    let points = match grid {
        Grid::Plain => steps,
        Grid::DropLast => steps + 1,
    };
    let t_max = train_steps as f64;
    let raw: Vec<f64> = match spacing {
        Spacing::Linspace => linspace(0.0, t_max - 1.0, points)
            .into_iter()
            .rev()
            .map(f64::round_ties_even)
            .collect(),
        Spacing::Leading => {
            let ratio = (train_steps / points) as f64;
            (0..points)
                .rev()
                .map(|i| i as f64 * ratio + f64::from(steps_offset))
                .collect()
        }
        Spacing::Trailing => {
            let ratio = t_max / steps as f64;
            (0..steps)
                .map(|i| (t_max - i as f64 * ratio).round_ties_even() - 1.0)
                .collect()
        }
    };
    let ts: Vec<u32> = raw.iter().take(steps).map(|v| *v as u32).collect();
    let distinct = ts.windows(2).all(|w| w[0] > w[1]);
    let in_range = raw.iter().take(steps).all(|v| *v >= 0.0 && *v < t_max);
    if !(distinct && in_range) {
        return Err(Error::InvalidConfig {
            field: "steps/steps_offset",
            expected: "distinct timesteps in 0..train_steps for this spacing",
        });
    }
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn diffusers_examples() {
        let ts = |s, n, off, g| timesteps(s, 1000, n, off, g).unwrap();
        assert_eq!(
            ts(Spacing::Leading, 10, 0, Grid::Plain),
            vec![900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
        );
        assert_eq!(
            ts(Spacing::Leading, 5, 1, Grid::Plain),
            vec![801, 601, 401, 201, 1]
        );
        assert_eq!(
            ts(Spacing::Linspace, 10, 0, Grid::DropLast),
            vec![999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
        );
        assert_eq!(
            ts(Spacing::Linspace, 10, 0, Grid::Plain),
            vec![999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
        );
        assert_eq!(
            ts(Spacing::Trailing, 10, 0, Grid::Plain),
            vec![999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
        );
        assert_eq!(
            ts(Spacing::Trailing, 3, 0, Grid::Plain),
            vec![999, 666, 332]
        );
        assert_eq!(ts(Spacing::Leading, 1000, 0, Grid::Plain).len(), 1000);
    }

    #[test]
    fn impossible_grids_are_errors() {
        assert!(timesteps(Spacing::Leading, 1000, 0, 0, Grid::Plain).is_err());
        assert!(timesteps(Spacing::Leading, 10, 11, 0, Grid::Plain).is_err());
        assert!(timesteps(Spacing::Leading, 10, 10, 1, Grid::Plain).is_err());
        assert!(timesteps(Spacing::Linspace, 10, 10, 0, Grid::DropLast).is_err());
    }
}
