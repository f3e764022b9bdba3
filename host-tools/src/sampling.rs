//! Desktop sampling: the runtime's no_std sampler over heap buffers.

use edgediff_runtime::Denoiser;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::Plan;
use edgediff_runtime::sampler::{Sampler, SamplerConfig, SignalStart};

/// One sampling run: a plan, the model's conventions, the batch and the seed.
#[derive(Clone, Debug)]
pub struct Job<'a> {
    /// The step table and corrector steps.
    pub plan: &'a Plan,
    /// What the network predicts.
    pub prediction: PredictionType,
    /// Optional `clip_sample` range.
    pub clip_sample: Option<f32>,
    /// Elements per sample.
    pub dim: usize,
    /// Number of samples.
    pub n: usize,
    /// Class labels, one per sample, or empty.
    pub labels: &'a [u16],
    /// Noise seed.
    pub seed: u64,
}

impl Job<'_> {
    /// The runtime configuration of this job.
    pub fn sampler_config(&self) -> SamplerConfig {
        SamplerConfig {
            prediction: self.prediction,
            clip_sample: self.clip_sample,
            corrector_steps: self.plan.corrector_steps,
            thresholding: self.plan.thresholding.map(|t| t.for_samples_of(self.dim)),
        }
    }

    /// Draws the samples with one seeded noise stream, as the device would: the whole batch
    /// is one sampler state, so the noise order is `x_T` element by element, then the noise of
    /// each step in the same order.
    pub fn run(&self, denoiser: &mut impl Denoiser) -> edgediff_runtime::Result<Vec<f32>> {
        self.run_from(denoiser, None, &mut |_, _| {})
    }

    /// [`Job::run`], optionally starting from a signal (SDEdit or denoising, see
    /// [`SignalStart`]), calling `on_step(step, x)` after every step.
    pub fn run_from(
        &self,
        denoiser: &mut impl Denoiser,
        init: Option<(&[f32], SignalStart)>,
        on_step: &mut dyn FnMut(usize, &[f32]),
    ) -> edgediff_runtime::Result<Vec<f32>> {
        self.run_with_noise(denoiser, init, on_step, &mut GaussianNoise::new(self.seed))
    }

    /// [`Job::run_from`] with the caller's noise source instead of the seeded one.
    pub fn run_with_noise(
        &self,
        denoiser: &mut impl Denoiser,
        init: Option<(&[f32], SignalStart)>,
        on_step: &mut dyn FnMut(usize, &[f32]),
        noise: &mut impl NoiseSource,
    ) -> edgediff_runtime::Result<Vec<f32>> {
        let sampler = Sampler::new(
            self.plan.rows.as_slice(),
            self.sampler_config(),
            self.dim * self.n,
        )?;
        let sizes = sampler.state_sizes();
        let mut x = vec![0.0f32; sizes.sample];
        let mut out = vec![0.0f32; sizes.model_output];
        let mut hist = vec![0.0f32; sizes.history];
        let mut state = sampler.state(&mut x, &mut out, &mut hist)?;
        let start = match init {
            Some((signal, how)) => {
                let dst = state.sample_mut();
                if signal.len() != dst.len() {
                    return Err(edgediff_runtime::Error::BufferSize {
                        buffer: edgediff_runtime::error::Buffer::Signal,
                        expected: dst.len(),
                        got: signal.len(),
                    });
                }
                dst.copy_from_slice(signal);
                sampler.init_from(&mut state, how, noise)?
            }
            None => {
                sampler.init_noise(&mut state, noise)?;
                0
            }
        };
        for i in start..sampler.steps() {
            sampler.step(i, &mut state, denoiser, self.labels, noise)?;
            on_step(i, state.sample());
        }
        Ok(x)
    }
}
