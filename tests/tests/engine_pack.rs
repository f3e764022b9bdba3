//! The int8 engine end to end: graphs compiled into packs, run by the runtime inside the
//! sampler, against a straightforward float evaluation of the same quantized weights; and the
//! pack reader against truncated and corrupted packs.

use edgediff::compile::writer::write_pack;
use edgediff::ir::QGraph;
use edgediff_runtime::engine::Engine;
use edgediff_runtime::kernels::reference::quantize;
use edgediff_runtime::noise::GaussianNoise;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::pack::layout::arena_bytes;
use edgediff_runtime::sampler::plan::{self, Plan, PlanConfig, SamplerKind};
use edgediff_runtime::sampler::{Sampler, SamplerConfig};
use edgediff_runtime::schedule::betas::{BetaSchedule, NoiseSchedule};
use edgediff_runtime::schedule::spacing::Spacing;
use edgediff_runtime::{Denoiser, Error, Result};
use edgediff_tests::graphs::{attention_net, conv_net, conv1d_net, film_net, mlp, norm_net};
use edgediff_tests::simulate::output_int8;

const STEPS: usize = 8;

fn sampler_plan() -> Plan {
    let s = NoiseSchedule::new(&BetaSchedule::DDPM_LINEAR, 1000).unwrap();
    let kind = SamplerKind::DPM_SOLVER_PP_2M;
    plan::build(&s, &PlanConfig::new(kind, STEPS, Spacing::Linspace)).unwrap()
}

/// Wraps the engine and compares every evaluation with the float reference.
struct Checked<'g, 'p, 'a> {
    engine: Engine<'p, 'a>,
    graph: &'g QGraph,
    hist: [usize; 3],
}

impl Denoiser for Checked<'_, '_, '_> {
    fn eval(
        &mut self,
        x: &[f32],
        t: u32,
        step: usize,
        labels: &[u16],
        out: &mut [f32],
    ) -> Result<()> {
        let dim = self.engine.pack().meta().sample_len();
        let classes = self.engine.pack().meta().num_classes;
        for (b, xs) in x.chunks(dim).enumerate() {
            let label = labels.get(b).copied().unwrap_or(classes);
            let (q_in, _) = self.engine.io_qparams(step)?;
            quantize(xs, q_in, self.engine.input_mut()?);
            self.engine.run(step, label)?;
            // The reference sees the same quantized input.
            let xq: Vec<f32> = self.engine_input_dequantized(xs, q_in);
            let want = output_int8(self.graph, &xq, step, usize::from(label));
            for (g, w) in self.engine.output()?.iter().zip(&want) {
                let d = (i32::from(*g) - i32::from(*w)).unsigned_abs() as usize;
                self.hist[d.min(2)] += 1;
            }
        }
        self.engine.eval(x, t, step, labels, out)
    }
}

impl Checked<'_, '_, '_> {
    fn engine_input_dequantized(
        &self,
        xs: &[f32],
        q: edgediff_runtime::kernels::quant::QParams,
    ) -> Vec<f32> {
        xs.iter().map(|v| q.dequantize(q.quantize(*v))).collect()
    }
}

fn end_to_end(graph: &QGraph, labels: &[u16], batch: usize) -> [usize; 3] {
    let plan = sampler_plan();
    let compiled = write_pack(graph, &plan, None).unwrap();
    assert_eq!(
        compiled.arena.total, compiled.arena.lower_bound,
        "planner above its lower bound"
    );
    let pack = Pack::parse(&compiled.bytes).unwrap();
    let mut arena = vec![0i8; arena_bytes(&compiled.bytes)];
    let engine = Engine::new(pack, &mut arena).unwrap();
    let mut den = Checked {
        engine,
        graph,
        hist: [0; 3],
    };
    let dim: usize = graph.sample_shape.iter().product();
    let table = pack.schedule();
    let sampler = Sampler::new(&table, SamplerConfig::default(), dim * batch).unwrap();
    let sizes = sampler.state_sizes();
    let (mut x, mut out, mut hist) = (
        vec![0.0; sizes.sample],
        vec![0.0; sizes.model_output],
        vec![0.0; sizes.history],
    );
    let mut state = sampler.state(&mut x, &mut out, &mut hist).unwrap();
    let mut noise = GaussianNoise::new(1);
    sampler.init_noise(&mut state, &mut noise).unwrap();
    sampler
        .run(0, &mut state, &mut den, labels, &mut noise)
        .unwrap();
    assert!(state.sample().iter().all(|v| v.is_finite()));
    println!(
        "{} bytes of pack, arena {} (lower bound {}), |engine - float| histogram 0/1/2+ LSB: {:?}",
        compiled.bytes.len(),
        compiled.arena.total,
        compiled.arena.lower_bound,
        den.hist
    );
    assert_eq!(den.hist[2], 0, "some outputs differ by 2 LSB or more");
    den.hist
}

#[test]
fn mlp_pack_matches_float_evaluation_within_one_lsb() {
    for per_step in [false, true] {
        end_to_end(&mlp(STEPS, per_step, 3), &[], 16);
    }
}

#[test]
fn conditional_conv_pack_matches_float_evaluation_within_one_lsb() {
    end_to_end(&conv_net(STEPS, true, 5), &[3, 7], 2);
    end_to_end(&conv_net(STEPS, false, 6), &[], 1);
}

#[test]
fn film_pack_matches_float_evaluation_within_one_lsb() {
    for per_step in [false, true] {
        end_to_end(&film_net(STEPS, per_step, 7), &[], 4);
    }
}

#[test]
fn attention_pack_matches_float_evaluation_within_one_lsb() {
    for per_step in [false, true] {
        end_to_end(&attention_net(STEPS, per_step, 8), &[], 4);
    }
}

#[test]
fn norm_pack_matches_float_evaluation_within_one_lsb() {
    for per_step in [false, true] {
        end_to_end(&norm_net(STEPS, per_step, 9), &[], 8);
    }
}

#[test]
fn conv1d_pack_matches_float_evaluation_within_one_lsb() {
    for per_step in [false, true] {
        end_to_end(&conv1d_net(STEPS, per_step, 10), &[], 4);
    }
}

#[test]
fn arena_too_small_is_reported_before_running() {
    let compiled = write_pack(&conv_net(STEPS, false, 1), &sampler_plan(), None).unwrap();
    let pack = Pack::parse(&compiled.bytes).unwrap();
    let needed = pack.arena_bytes();
    let mut arena = vec![0i8; needed - 1];
    assert_eq!(
        Engine::new(pack, &mut arena).unwrap_err(),
        Error::ArenaTooSmall {
            needed,
            given: needed - 1
        }
    );
}

#[test]
fn packs_are_deterministic() {
    let a = write_pack(&mlp(STEPS, true, 9), &sampler_plan(), Some(1.0)).unwrap();
    let b = write_pack(&mlp(STEPS, true, 9), &sampler_plan(), Some(1.0)).unwrap();
    assert_eq!(a.bytes, b.bytes);
    let pack = Pack::parse(&a.bytes).unwrap();
    assert_eq!(pack.meta().clip_sample, Some(1.0));
}

#[test]
fn every_truncation_and_every_byte_corruption_is_a_typed_error() {
    for g in [
        conv_net(STEPS, true, 2),
        attention_net(STEPS, true, 2),
        norm_net(STEPS, true, 2),
        conv1d_net(STEPS, true, 2),
    ] {
        truncations_and_corruptions_are_typed_errors(&g);
    }
}

fn truncations_and_corruptions_are_typed_errors(g: &edgediff::ir::QGraph) {
    let compiled = write_pack(g, &sampler_plan(), None).unwrap();
    let bytes = compiled.bytes;
    for n in 0..bytes.len() {
        let e = Pack::parse(&bytes[..n]).unwrap_err();
        assert!(matches!(e, Error::Pack { .. }), "truncated to {n}: {e:?}");
    }
    let mut copy = bytes.clone();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            copy[i] ^= flip;
            let r = Pack::parse(&copy);
            assert!(
                matches!(r, Err(Error::Pack { .. })),
                "byte {i} ^ {flip:#x} was accepted"
            );
            copy[i] ^= flip;
        }
    }
    println!(
        "{} truncations and {} corruptions rejected",
        bytes.len(),
        3 * bytes.len()
    );
}

#[test]
fn crc_valid_edits_fail_validation_or_run_safely() {
    for g in [
        conv_net(STEPS, true, 2),
        attention_net(STEPS, true, 2),
        norm_net(STEPS, true, 2),
        conv1d_net(STEPS, true, 2),
    ] {
        crc_valid_edits_of(&g);
    }
}

fn crc_valid_edits_of(g: &edgediff::ir::QGraph) {
    use edgediff_runtime::pack::crc32::crc32;
    use edgediff_runtime::pack::layout::header;
    let compiled = write_pack(g, &sampler_plan(), None).unwrap();
    let bytes = compiled.bytes;
    // Every single-byte change past the header, with the CRC fixed up: the structure checks
    // must reject it or the pack must still run safely.
    let mut accepted = 0;
    let mut copy = bytes.clone();
    for i in header::CRC_START..bytes.len() {
        for v in [0x00u8, 0x7f, 0xff] {
            if bytes[i] == v {
                continue;
            }
            copy[i] = v;
            let crc = crc32(&copy[header::CRC_START..]);
            copy[header::CRC..header::CRC + 4].copy_from_slice(&crc.to_le_bytes());
            if let Ok(pack) = Pack::parse(&copy) {
                accepted += 1;
                // Whatever parses must run without panicking.
                let mut arena = vec![0i8; pack.arena_bytes()];
                if let Ok(mut engine) = Engine::new(pack, &mut arena) {
                    let dim = pack.meta().sample_len();
                    let x = vec![0.5f32; dim];
                    let mut out = vec![0.0f32; dim];
                    let t = edgediff_runtime::schedule::StepTable::row(&pack.schedule(), 0)
                        .map_or(0, |r| r.t);
                    let _ = engine.eval(&x, t, 0, &[1], &mut out);
                }
            }
            copy[i] = bytes[i];
        }
    }
    copy[header::CRC..header::CRC + 4].copy_from_slice(&bytes[header::CRC..header::CRC + 4]);
    println!(
        "{accepted} CRC-valid single-byte edits parsed (weights, scales, table values) and ran without panic"
    );
}
