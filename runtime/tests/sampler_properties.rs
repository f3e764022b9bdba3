//! Properties of the sampler loop that hold for every sampler.

use edgediff_runtime::error::Buffer;
use edgediff_runtime::noise::{GaussianNoise, NoiseSource, RecordedNoise};
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::{
    self, Corrector, DdpmVariance, FinalSigmas, Plan, PlanConfig, SamplerKind,
};
use edgediff_runtime::sampler::{Sampler, SamplerConfig, SignalStart, noise_step};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::codegen::rust_const;
use edgediff_runtime::schedule::spacing::Spacing;
use edgediff_runtime::schedule::{StepRow, StepRowF16, StepTable};
use edgediff_runtime::{Denoiser, Error, Result};

const LEN: usize = 64;

/// A smooth stand-in network that predicts noise, and can answer in any parameterization.
struct Toy {
    abar: Vec<f64>,
    prediction: PredictionType,
    calls: usize,
    labels_seen: Vec<u16>,
}

impl Toy {
    fn new(schedule: &NoiseSchedule, prediction: PredictionType) -> Self {
        Self {
            abar: schedule.alphas_cumprod().to_vec(),
            prediction,
            calls: 0,
            labels_seen: Vec::new(),
        }
    }
}

impl Denoiser for Toy {
    fn eval(&mut self, x: &[f32], t: u32, _: usize, labels: &[u16], out: &mut [f32]) -> Result<()> {
        self.calls += 1;
        self.labels_seen.extend_from_slice(labels);
        let abar = plan::usable_abar(self.abar[t as usize]);
        let (alpha, sigma) = (abar.sqrt() as f32, (1.0 - abar).sqrt() as f32);
        for (o, &v) in out.iter_mut().zip(x) {
            // eps of data concentrated near +-0.5, plus a t-dependent term.
            let eps = 0.8 * (v - alpha * 0.5 * v.signum()) / sigma.max(0.05) + 1e-4 * t as f32;
            let x0 = (v - sigma * eps) / alpha;
            *o = self.prediction.from_x0_eps(x0, eps, alpha, sigma);
        }
        Ok(())
    }
}

fn schedule() -> NoiseSchedule {
    NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap()
}

/// Every sampler configuration the properties cover (steps and spacing set by [`build`]).
fn all_kinds() -> Vec<PlanConfig> {
    let corrector = Some(Corrector {
        snr: 0.16,
        steps: 2,
    });
    let base = |sampler, corrector, final_sigmas| PlanConfig {
        corrector,
        final_sigmas,
        ..PlanConfig::new(sampler, 0, Spacing::Linspace)
    };
    let (zero, min) = (FinalSigmas::Zero, FinalSigmas::SigmaMin);
    vec![
        base(
            SamplerKind::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            None,
            zero,
        ),
        base(
            SamplerKind::Ddpm {
                variance: DdpmVariance::FixedLarge,
            },
            None,
            zero,
        ),
        base(SamplerKind::Ddim { eta: 0.0 }, None, zero),
        base(SamplerKind::Ddim { eta: 0.7 }, None, zero),
        base(SamplerKind::Ddim { eta: 0.0 }, None, min),
        base(SamplerKind::DPM_SOLVER_PP_2M, None, zero),
        base(
            SamplerKind::DpmSolverPp {
                order: 2,
                lower_order_final: false,
            },
            None,
            min,
        ),
        base(
            SamplerKind::DpmSolverPp {
                order: 1,
                lower_order_final: true,
            },
            None,
            zero,
        ),
        base(
            SamplerKind::DpmSolverPp {
                order: 3,
                lower_order_final: true,
            },
            None,
            zero,
        ),
        base(
            SamplerKind::SdeDpmSolverPp {
                order: 2,
                lower_order_final: true,
            },
            None,
            zero,
        ),
        base(
            SamplerKind::UniPc {
                order: 2,
                lower_order_final: true,
            },
            None,
            zero,
        ),
        base(
            SamplerKind::UniPc {
                order: 3,
                lower_order_final: true,
            },
            None,
            min,
        ),
        PlanConfig {
            karras: true,
            ..base(
                SamplerKind::UniPc {
                    order: 3,
                    lower_order_final: true,
                },
                None,
                zero,
            )
        },
        base(SamplerKind::Euler, None, zero),
        base(SamplerKind::Euler, None, min),
        PlanConfig {
            karras: true,
            ..base(SamplerKind::Euler, None, zero)
        },
        base(SamplerKind::Heun, None, zero),
        base(SamplerKind::EulerAncestral, None, zero),
        base(SamplerKind::Ddim { eta: 0.0 }, corrector, zero),
        base(SamplerKind::Langevin, corrector, zero),
    ]
}

fn build(s: &NoiseSchedule, base: PlanConfig, steps: usize, spacing: Spacing) -> Plan {
    plan::build(
        s,
        &PlanConfig {
            steps,
            spacing,
            ..base
        },
    )
    .unwrap()
}

fn plain(kind: SamplerKind) -> PlanConfig {
    PlanConfig::new(kind, 0, Spacing::Linspace)
}

fn run_table<T: StepTable + ?Sized>(
    rows: &T,
    cfg: SamplerConfig,
    den: &mut impl Denoiser,
    noise: &mut impl NoiseSource,
) -> Result<Vec<f32>> {
    let sampler = Sampler::new(rows, cfg, LEN)?;
    let sizes = sampler.state_sizes();
    let (mut x, mut out, mut hist) = (
        vec![0.0; sizes.sample],
        vec![0.0; sizes.model_output],
        vec![0.0; sizes.history],
    );
    let mut state = sampler.state(&mut x, &mut out, &mut hist)?;
    sampler.init_noise(&mut state, noise)?;
    sampler.run(0, &mut state, den, &[3, 1], noise)?;
    Ok(x)
}

fn run(plan: &Plan, prediction: PredictionType, den: &mut impl Denoiser, seed: u64) -> Vec<f32> {
    let cfg = SamplerConfig {
        prediction,
        corrector_steps: plan.corrector_steps,
        ..SamplerConfig::default()
    };
    run_table(
        plan.rows.as_slice(),
        cfg,
        den,
        &mut GaussianNoise::new(seed),
    )
    .unwrap()
}

#[test]
fn the_three_parameterizations_give_the_same_updates() {
    let s = schedule();
    // Karras levels fall between table rows while the toy network answers at the row's
    // (rounded) timestep, so its three parameterizations disagree there by construction.
    for kind in all_kinds().into_iter().filter(|k| !k.karras) {
        let plan = build(&s, kind, 20, Spacing::Trailing);
        let reference = run(
            &plan,
            PredictionType::Epsilon,
            &mut Toy::new(&s, PredictionType::Epsilon),
            5,
        );
        for p in [PredictionType::Sample, PredictionType::VPrediction] {
            let other = run(&plan, p, &mut Toy::new(&s, p), 5);
            let worst = reference
                .iter()
                .zip(&other)
                .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
                .fold(0.0f32, f32::max);
            assert!(
                worst < 2e-4,
                "{kind:?} {p:?}: worst relative difference {worst}"
            );
        }
    }
}

#[test]
fn ddim_eta_zero_is_deterministic_and_draws_only_the_start() {
    let s = schedule();
    let plan = build(
        &s,
        plain(SamplerKind::Ddim { eta: 0.0 }),
        25,
        Spacing::Leading,
    );
    let start: Vec<f32> = (0..LEN).map(|i| (i as f32 * 0.37).sin()).collect();
    let cfg = SamplerConfig::default();
    // Exactly LEN recorded values: the start. Any draw inside the loop would fail.
    let mut recorded = RecordedNoise::new(&start);
    let a = run_table(
        plan.rows.as_slice(),
        cfg,
        &mut Toy::new(&s, PredictionType::Epsilon),
        &mut recorded,
    )
    .unwrap();
    assert_eq!(recorded.used(), LEN);
    let b = run_table(
        plan.rows.as_slice(),
        cfg,
        &mut Toy::new(&s, PredictionType::Epsilon),
        &mut RecordedNoise::new(&start),
    )
    .unwrap();
    assert_eq!(bits(&a), bits(&b));
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn same_seed_same_bits_for_every_sampler() {
    let s = schedule();
    for kind in all_kinds() {
        let plan = build(&s, kind, 30, Spacing::Trailing);
        let a = run(
            &plan,
            PredictionType::Epsilon,
            &mut Toy::new(&s, PredictionType::Epsilon),
            11,
        );
        let b = run(
            &plan,
            PredictionType::Epsilon,
            &mut Toy::new(&s, PredictionType::Epsilon),
            11,
        );
        assert_eq!(bits(&a), bits(&b), "{kind:?}");
    }
    let ddpm = build(
        &s,
        plain(SamplerKind::Ddpm {
            variance: DdpmVariance::FixedSmall,
        }),
        1000,
        Spacing::Leading,
    );
    let a = run(
        &ddpm,
        PredictionType::Epsilon,
        &mut Toy::new(&s, PredictionType::Epsilon),
        1,
    );
    let b = run(
        &ddpm,
        PredictionType::Epsilon,
        &mut Toy::new(&s, PredictionType::Epsilon),
        1,
    );
    let c = run(
        &ddpm,
        PredictionType::Epsilon,
        &mut Toy::new(&s, PredictionType::Epsilon),
        2,
    );
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn recorded_noise_reproduces_the_generator() {
    let s = schedule();
    let plan = build(
        &s,
        PlanConfig {
            corrector: Some(Corrector { snr: 0.2, steps: 1 }),
            ..plain(SamplerKind::EulerAncestral)
        },
        15,
        Spacing::Trailing,
    );
    let mut g = GaussianNoise::new(9);
    let tape: Vec<f32> = (0..LEN * 100).map(|_| g.next_normal().unwrap()).collect();
    let cfg = SamplerConfig {
        corrector_steps: 1,
        ..SamplerConfig::default()
    };
    let mut rec = RecordedNoise::new(&tape);
    let a = run_table(
        plan.rows.as_slice(),
        cfg,
        &mut Toy::new(&s, PredictionType::Epsilon),
        &mut rec,
    )
    .unwrap();
    let b = run(
        &plan,
        PredictionType::Epsilon,
        &mut Toy::new(&s, PredictionType::Epsilon),
        9,
    );
    assert_eq!(bits(&a), bits(&b));
    // Start, then per step: corrector noise and ancestral noise (none at the last step).
    assert_eq!(rec.used(), LEN + 15 * LEN + 14 * LEN);
}

#[test]
fn euler_equals_ddim_eta_zero() {
    let s = schedule();
    for steps in [1, 7, 50] {
        let e = build(&s, plain(SamplerKind::Euler), steps, Spacing::Trailing);
        let d = build(
            &s,
            plain(SamplerKind::Ddim { eta: 0.0 }),
            steps,
            Spacing::Trailing,
        );
        let a = run(
            &e,
            PredictionType::Epsilon,
            &mut Toy::new(&s, PredictionType::Epsilon),
            4,
        );
        let b = run(
            &d,
            PredictionType::Epsilon,
            &mut Toy::new(&s, PredictionType::Epsilon),
            4,
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() < 1e-4 * (1.0 + x.abs()),
                "{steps} steps: {x} vs {y}"
            );
        }
    }
}

#[test]
fn no_nan_or_inf_for_edge_schedules() {
    let linear = schedule();
    let zero_snr = schedule().rescale_zero_terminal_snr().unwrap();
    let cosine = NoiseSchedule::new(&BetaSchedule::SquaredCosCapV2, 1000).unwrap();
    let tiny = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 2).unwrap();
    for s in [&linear, &zero_snr, &cosine, &tiny] {
        let t = s.train_steps();
        for kind in all_kinds() {
            for steps in [1, 2, t] {
                for sp in [Spacing::Linspace, Spacing::Leading, Spacing::Trailing] {
                    let cfg = PlanConfig {
                        steps,
                        spacing: sp,
                        ..kind
                    };
                    // DPM-Solver++'s N + 1 grid cannot hold N = T steps; that is an error.
                    let Ok(plan) = plan::build(s, &cfg) else {
                        continue;
                    };
                    for p in [PredictionType::Epsilon, PredictionType::VPrediction] {
                        let cfg = SamplerConfig {
                            prediction: p,
                            clip_sample: Some(1.0),
                            corrector_steps: plan.corrector_steps,
                            thresholding: None,
                        };
                        let x = run_table(
                            plan.rows.as_slice(),
                            cfg,
                            &mut Toy::new(s, p),
                            &mut GaussianNoise::new(0),
                        )
                        .unwrap();
                        assert!(
                            x.iter().all(|v| v.is_finite()),
                            "{kind:?} T={t} N={steps} {sp:?} {p:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_last_step_lands_on_the_clean_sample() {
    let s = schedule();
    for kind in all_kinds() {
        let plan = build(&s, kind, 10, Spacing::Linspace);
        let last = plan.rows.last().unwrap();
        assert_eq!(last.noise, 0.0, "{kind:?}");
        if kind.final_sigmas == FinalSigmas::Zero {
            assert_eq!(last.t_prev, -1);
            assert_eq!(
                (last.c_xt, last.c_eps, last.c_hist),
                (0.0, 0.0, 0.0),
                "{kind:?}"
            );
            assert!((last.c_x0 - 1.0).abs() < 1e-7, "{kind:?}");
        }
    }
}

#[test]
fn half_precision_tables_stay_close() {
    let s = schedule();
    let plan = build(
        &s,
        plain(SamplerKind::Ddim { eta: 0.0 }),
        20,
        Spacing::Trailing,
    );
    let half: Vec<StepRowF16> = plan.rows.iter().map(StepRow::to_f16).collect();
    let cfg = SamplerConfig::default();
    let a = run_table(
        plan.rows.as_slice(),
        cfg,
        &mut Toy::new(&s, PredictionType::Epsilon),
        &mut GaussianNoise::new(3),
    )
    .unwrap();
    let b = run_table(
        half.as_slice(),
        cfg,
        &mut Toy::new(&s, PredictionType::Epsilon),
        &mut GaussianNoise::new(3),
    )
    .unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    println!("f16 table vs f32 table: max |difference| {worst:.2e}");
    assert!(worst < 2e-2, "{worst}");
    // 4 + 4 bytes of timesteps, then 11 coefficients (padded to 4 bytes in half precision).
    assert_eq!(core::mem::size_of::<StepRowF16>(), 32);
    assert_eq!(core::mem::size_of::<StepRow>(), 52);
}

mod embedded {
    use edgediff_runtime::schedule::StepRow;
    include!("data/ddim10_rows.rs");
}

#[test]
fn const_tables_match_the_host_build() {
    let s = schedule();
    let plan = build(
        &s,
        plain(SamplerKind::Ddim { eta: 0.0 }),
        10,
        Spacing::Leading,
    );
    let source = rust_const("DDIM10", &plan.rows);
    let committed = include_str!("data/ddim10_rows.rs");
    assert_eq!(
        source, committed,
        "regenerate with `edgediff schedule --sampler ddim --steps 10 --spacing leading --rust-const DDIM10`"
    );
    assert_eq!(embedded::DDIM10.as_slice(), plan.rows.as_slice());
}

#[test]
fn labels_reach_the_denoiser_and_sdedit_starts_midway() {
    let s = schedule();
    let plan = build(
        &s,
        plain(SamplerKind::DPM_SOLVER_PP_2M),
        10,
        Spacing::Linspace,
    );
    let sampler = Sampler::new(plan.rows.as_slice(), SamplerConfig::default(), LEN).unwrap();
    let sizes = sampler.state_sizes();
    assert_eq!(sizes.history, LEN);
    assert_eq!(sizes.bytes(), 3 * LEN * 4);
    let signal: Vec<f32> = (0..LEN).map(|i| i as f32 / LEN as f32).collect();
    let (mut x, mut out, mut hist) = (signal.clone(), vec![0.0; LEN], vec![0.0; LEN]);
    let mut state = sampler.state(&mut x, &mut out, &mut hist).unwrap();
    let z = vec![0.25f32; LEN];
    let first = sampler
        .init_from(
            &mut state,
            SignalStart::Edit(6),
            &mut RecordedNoise::new(&z),
        )
        .unwrap();
    assert_eq!(first, 6);
    let row = plan.rows[6];
    for (xi, si) in state.sample().iter().zip(&signal) {
        assert_eq!(*xi, row.alpha * si + row.sigma * 0.25);
    }
    let mut toy = Toy::new(&s, PredictionType::Epsilon);
    sampler
        .run(6, &mut state, &mut toy, &[7, 2], &mut GaussianNoise::new(0))
        .unwrap();
    assert_eq!(toy.calls, 4);
    assert_eq!(toy.labels_seen, [7, 2, 7, 2, 7, 2, 7, 2]);
    assert!(state.sample().iter().all(|v| v.is_finite()));
    // Denoising: the signal is only scaled, at the step whose noise level matches.
    let (mut x, mut out, mut hist) = (signal.clone(), vec![0.0; LEN], vec![0.0; LEN]);
    let mut state = sampler.state(&mut x, &mut out, &mut hist).unwrap();
    let level = |k: usize| plan.rows[k].sigma / plan.rows[k].alpha;
    let k = noise_step(plan.rows.as_slice(), level(7) * 1.01).unwrap();
    assert_eq!(k, 7);
    assert_eq!(noise_step(plan.rows.as_slice(), 0.0), None);
    sampler
        .init_from(
            &mut state,
            SignalStart::Denoise(k),
            &mut RecordedNoise::new(&z),
        )
        .unwrap();
    for (xi, si) in state.sample().iter().zip(&signal) {
        assert_eq!(*xi, plan.rows[7].alpha * si);
    }
}

#[test]
fn wrong_buffers_and_tables_are_typed_errors() {
    let s = schedule();
    let plan = build(
        &s,
        plain(SamplerKind::Ddim { eta: 0.0 }),
        5,
        Spacing::Leading,
    );
    let sampler = Sampler::new(plan.rows.as_slice(), SamplerConfig::default(), LEN).unwrap();
    let (mut x, mut out, mut hist) = (vec![0.0; LEN - 1], vec![0.0; LEN], vec![]);
    assert_eq!(
        sampler.state(&mut x, &mut out, &mut hist).unwrap_err(),
        Error::BufferSize {
            buffer: Buffer::Sample,
            expected: LEN,
            got: LEN - 1
        }
    );
    let dpm = build(
        &s,
        plain(SamplerKind::DPM_SOLVER_PP_2M),
        5,
        Spacing::Linspace,
    );
    let sampler2 = Sampler::new(dpm.rows.as_slice(), SamplerConfig::default(), LEN).unwrap();
    let mut x = vec![0.0; LEN];
    assert_eq!(
        sampler2.state(&mut x, &mut out, &mut hist).unwrap_err(),
        Error::BufferSize {
            buffer: Buffer::History,
            expected: LEN,
            got: 0
        }
    );
    let mut hist = vec![0.0; LEN];
    let mut state = sampler.state(&mut x, &mut out, &mut hist).unwrap();
    let mut toy = Toy::new(&s, PredictionType::Epsilon);
    assert_eq!(
        sampler
            .step(5, &mut state, &mut toy, &[], &mut GaussianNoise::new(0))
            .unwrap_err(),
        Error::StepOutOfRange { step: 5, steps: 5 }
    );
    let empty: [StepRow; 0] = [];
    assert_eq!(
        Sampler::new(&empty[..], SamplerConfig::default(), LEN).unwrap_err(),
        Error::EmptySchedule
    );
    let mut bad = plan.rows.clone();
    bad[2].c_x0 = f32::NAN;
    assert!(matches!(
        Sampler::new(bad.as_slice(), SamplerConfig::default(), LEN).unwrap_err(),
        Error::BadStepRow {
            step: 2,
            field: "c_x0",
            ..
        }
    ));
    let clip = SamplerConfig {
        clip_sample: Some(f32::NAN),
        ..SamplerConfig::default()
    };
    assert!(matches!(
        Sampler::new(plan.rows.as_slice(), clip, LEN),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(Sampler::new(plan.rows.as_slice(), SamplerConfig::default(), 0).is_err());
    for bad_cfg in [
        PlanConfig::new(SamplerKind::Ddim { eta: f64::NAN }, 10, Spacing::Leading),
        PlanConfig::new(SamplerKind::Ddim { eta: -1.0 }, 10, Spacing::Leading),
        PlanConfig::new(SamplerKind::Langevin, 10, Spacing::Leading),
        PlanConfig::new(SamplerKind::Euler, 0, Spacing::Leading),
        PlanConfig::new(SamplerKind::Euler, 1001, Spacing::Leading),
        PlanConfig {
            corrector: Some(Corrector {
                snr: f64::INFINITY,
                steps: 1,
            }),
            ..PlanConfig::new(SamplerKind::Euler, 10, Spacing::Leading)
        },
        // An unstable Langevin step (fuzz/regressions/sampler_config/corrector-snr-9.6).
        PlanConfig {
            corrector: Some(Corrector { snr: 1.5, steps: 1 }),
            ..PlanConfig::new(SamplerKind::Euler, 10, Spacing::Leading)
        },
    ] {
        assert!(
            matches!(plan::build(&s, &bad_cfg), Err(Error::InvalidConfig { .. })),
            "{bad_cfg:?}"
        );
    }
}

/// The exact flow velocity of data concentrated at `c`: `v = (x - c) / s` at level `s`, read
/// from the row the sampler passes (by step index).
struct PointFlow<'p> {
    c: f32,
    plan: &'p Plan,
}

impl Denoiser for PointFlow<'_> {
    fn eval(&mut self, x: &[f32], _t: u32, step: usize, _: &[u16], out: &mut [f32]) -> Result<()> {
        let s = self.plan.rows[step].sigma;
        for (o, v) in out.iter_mut().zip(x) {
            *o = (v - self.c) / s;
        }
        Ok(())
    }
}

#[test]
fn flow_matching_euler_follows_straight_paths_to_the_data() {
    let s = schedule();
    for shift in [1.0, 3.0] {
        let cfg = PlanConfig::new(SamplerKind::FlowMatchEuler { shift }, 8, Spacing::Linspace);
        let plan = plan::build(&s, &cfg).unwrap();
        assert_eq!(plan.rows[0].t, 1000);
        assert_eq!((plan.rows[0].alpha, plan.rows[0].sigma), (0.0, 1.0));
        let cfg = SamplerConfig {
            prediction: PredictionType::FlowVelocity,
            ..SamplerConfig::default()
        };
        let x = run_table(
            plan.rows.as_slice(),
            cfg,
            &mut PointFlow {
                c: 0.75,
                plan: &plan,
            },
            &mut GaussianNoise::new(1),
        )
        .unwrap();
        // The exact velocity points straight at the data: every Euler step stays on the
        // line, so the run ends on it (to f32 rounding).
        assert!(x.iter().all(|v| (v - 0.75).abs() < 1e-5), "{x:?}");
    }
}

#[test]
fn a_table_and_a_prediction_type_of_different_families_are_refused() {
    let s = schedule();
    let flow = plan::build(
        &s,
        &PlanConfig::new(
            SamplerKind::FlowMatchEuler { shift: 1.0 },
            8,
            Spacing::Linspace,
        ),
    )
    .unwrap();
    let vp = build(
        &s,
        plain(SamplerKind::DPM_SOLVER_PP_2M),
        8,
        Spacing::Linspace,
    );
    let with = |p| SamplerConfig {
        prediction: p,
        ..SamplerConfig::default()
    };
    for (rows, p) in [
        (flow.rows.as_slice(), PredictionType::Epsilon),
        (flow.rows.as_slice(), PredictionType::VPrediction),
        (vp.rows.as_slice(), PredictionType::FlowVelocity),
    ] {
        assert!(
            matches!(
                Sampler::new(rows, with(p), LEN),
                Err(Error::BadStepRow { field: "alpha", .. })
            ),
            "{p:?}"
        );
    }
    // Flow matching takes no corrector, Karras sigmas or sigma_min end.
    let bad = PlanConfig {
        karras: true,
        ..PlanConfig::new(
            SamplerKind::FlowMatchEuler { shift: 1.0 },
            8,
            Spacing::Linspace,
        )
    };
    assert!(matches!(
        plan::build(&s, &bad),
        Err(Error::InvalidConfig { .. })
    ));
}
