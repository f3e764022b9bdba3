//! ECG-like 1-D signals: the P, Q, R, S and T waves of McSharry et al.'s ECGSYN model
//! ("A dynamical model for generating synthetic electrocardiogram signals", IEEE Trans.
//! Biomed. Eng. 50(3), 2003) as Gaussian bumps over the cardiac phase, with a random heart
//! rate, start phase, per-wave amplitude and width jitter, and baseline wander. The same
//! generator as `ecg_beats` in scripts/make-torch-fixtures.py (the distribution, not the random
//! stream), so quality is measured against fresh signals of the training distribution.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::f64::consts::PI;

/// Samples per signal.
pub const LEN: usize = 128;
/// Sampling rate (Hz).
pub const RATE: f64 = 128.0;

/// Phase, amplitude and width of the P, Q, R, S and T waves (ECGSYN's table).
const WAVES: [(f64, f64, f64); 5] = [
    (-PI / 3.0, 1.2, 0.25),
    (-PI / 12.0, -5.0, 0.1),
    (0.0, 30.0, 0.1),
    (PI / 12.0, -7.5, 0.1),
    (PI / 2.0, 0.75, 0.4),
];

/// `n` signals of [`LEN`] samples, concatenated, from a seeded stream: heart rate 55-110 bpm,
/// amplitudes +-15%, widths +-10%, baseline wander up to 0.1 at 0.1-0.4 Hz; scaled so that
/// the R peak sits near 1 and the baseline near -0.4.
pub fn signals(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut u =
        |lo: f64, hi: f64| lo + (hi - lo) * (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(n * LEN);
    for _ in 0..n {
        let hr = u(55.0, 110.0);
        let phase0 = u(-PI, PI);
        let waves: Vec<(f64, f64, f64)> = WAVES
            .iter()
            .map(|(th, a, b)| (*th, a * u(0.85, 1.15), b * u(0.9, 1.1)))
            .collect();
        let (w_amp, w_freq, w_phase) = (u(0.0, 0.1), u(0.1, 0.4), u(0.0, 2.0 * PI));
        for i in 0..LEN {
            let t = i as f64 / RATE;
            let phase = 2.0 * PI * hr / 60.0 * t + phase0;
            let z: f64 = waves
                .iter()
                .map(|(th, a, b)| {
                    let d = (phase - th).sin().atan2((phase - th).cos()); // wrapped
                    a * (-(d * d) / (2.0 * b * b)).exp()
                })
                .sum();
            let wander = w_amp * (2.0 * PI * w_freq * t + w_phase).sin();
            out.push((z / 30.0 * 1.6 - 0.4 + wander) as f32);
        }
    }
    out
}

/// Standard deviation of the white noise [`recorded`] adds.
pub const RECORDING_NOISE: f32 = 0.15;
/// Amplitude of the 50 Hz mains hum [`recorded`] adds.
pub const MAINS_HUM: f32 = 0.1;

/// `clean` signals as a noisy recording sees them: white noise of standard deviation
/// [`RECORDING_NOISE`] and a 50 Hz mains hum of amplitude [`MAINS_HUM`] (random phase per
/// signal), from a seeded stream.
pub fn recorded(clean: &[f32], seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(clean.len());
    for sig in clean.chunks(LEN) {
        let phase = 2.0 * PI * uniform();
        for (i, v) in sig.iter().enumerate() {
            // Box-Muller, one normal per draw pair.
            let (u1, u2) = (uniform(), uniform());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
            let hum = (2.0 * PI * 50.0 * i as f64 / RATE + phase).sin();
            out.push(v + (f64::from(RECORDING_NOISE) * z + f64::from(MAINS_HUM) * hum) as f32);
        }
    }
    out
}

/// The standard deviation of what [`recorded`] adds (white noise and hum together): the noise
/// level a denoiser is told.
pub fn recording_std() -> f32 {
    (RECORDING_NOISE * RECORDING_NOISE + MAINS_HUM * MAINS_HUM / 2.0).sqrt()
}

/// Root-mean-square difference of two equally long signal sets.
pub fn rms_error(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    let ss: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    (ss / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_have_r_peaks_near_one_and_a_baseline_below_zero() {
        let s = signals(64, 3);
        assert_eq!(s.len(), 64 * LEN);
        for sig in s.chunks_exact(LEN) {
            let max = sig.iter().fold(f32::MIN, |m, v| m.max(*v));
            let mut sorted = sig.to_vec();
            sorted.sort_by(f32::total_cmp);
            let median = sorted[LEN / 2];
            // 55 bpm over one second: at least most of one beat; the R peak may fall outside.
            assert!((-0.6..-0.2).contains(&median), "median {median}");
            assert!(max < 1.6, "max {max}");
        }
        // Some window shows a full R peak.
        assert!(s.iter().any(|v| *v > 1.0));
        assert_eq!(signals(2, 9), signals(2, 9));
    }

    #[test]
    fn recordings_carry_the_stated_noise() {
        let clean = signals(200, 4);
        let noisy = recorded(&clean, 5);
        let rms = rms_error(&clean, &noisy);
        let want = recording_std();
        assert!((rms - f64::from(want)).abs() < 0.005, "{rms} vs {want}");
    }
}
