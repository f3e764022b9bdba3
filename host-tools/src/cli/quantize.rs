//! `edgediff quantize`: float ONNX in, int8 ONNX out, with timestep-aware calibration and a
//! float-vs-int8 error report.

use super::Error;
use super::sampler_args::SamplerArgs;
use crate::files::write_atomic;
use crate::ir::FloatGraph;
use crate::ir::QGraph;
use crate::model::FloatDenoiser;
use crate::onnx::{encode, qonnx};
use crate::pipeline::load_float;
use crate::quantize::calibrate::{CalibConfig, DEFAULT_TAIL_SCALE, RangeRule, calibrate};
use crate::quantize::report::{Report, dequantized};
use crate::quantize::{fold_bias_into_step_tables, to_qgraph};
use crate::sampling::Job;
use edgediff_runtime::prediction::PredictionType;
use edgediff_runtime::sampler::plan::Plan;
use std::path::PathBuf;

/// Options of `edgediff quantize`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The float ONNX epsilon-network.
    #[arg(long)]
    pub model: PathBuf,
    /// The int8 ONNX to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The sampler the model will run with (its timesteps get the embedding tables).
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// One activation scale per sampling step (TDQ), the network input's included (the bias
    /// of the layer adding the time embedding moves into its table); the ONNX graph keeps
    /// the first step's and records the others in its metadata.
    #[arg(long)]
    pub per_step: bool,
    /// Clip ranges at this percentile (e.g. 99.99) instead of min-max.
    #[arg(long)]
    pub percentile: Option<f64>,
    /// Calibration trajectories.
    #[arg(long, default_value_t = 256)]
    pub calib: usize,
    /// Classifier-free guidance scale for conditional models.
    #[arg(long, default_value_t = 1.0)]
    pub guidance: f32,
    /// Calibration seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Noise scale of the extra tail trajectories (half of --calib) that cover rare, large
    /// starting noise; 1 turns them off.
    #[arg(long, default_value_t = DEFAULT_TAIL_SCALE)]
    pub tail_scale: f32,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let (mut g, plan) = load_float(&args.model, &args.sampler)?;
    if args.per_step {
        let moved = fold_bias_into_step_tables(&mut g);
        if moved > 0 {
            println!("per-step: {moved} conv bias(es) folded into the time-embedding tables");
        }
    }
    let rule = match args.percentile {
        Some(p) if p > 50.0 && p <= 100.0 => RangeRule::Percentile(p),
        Some(p) => {
            return Err(Error::Input(format!(
                "--percentile {p}: expected a value in (50, 100]"
            )));
        }
        None => RangeRule::MinMax,
    };
    if args.calib == 0 {
        return Err(Error::Input("--calib must be at least 1".into()));
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
        "calibrating on {} trajectories x {} steps",
        args.calib,
        plan.rows.len()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    if !(args.tail_scale >= 1.0 && args.tail_scale.is_finite()) {
        return Err(Error::Input(format!(
            "--tail-scale {}: expected a finite value >= 1",
            args.tail_scale
        )));
    }
    let ranges = calibrate(
        &g,
        &plan,
        &CalibConfig {
            samples: args.calib,
            guidance: args.guidance,
            rule,
            per_step: args.per_step,
            seed: args.seed,
            tail_scale: args.tail_scale,
        },
    )?;
    let q = to_qgraph(&g, &ranges, args.guidance);
    spinner.finish_and_clear();
    let timesteps: Vec<u32> = plan.rows.iter().map(|r| r.t).collect();
    write_atomic(
        &args.out,
        &encode(&qonnx::write(&q, &timesteps)),
        args.force,
    )?;
    println!(
        "quantized {} ({} ops, {} params, {} MACs per evaluation) -> {}",
        args.model.display(),
        q.ops.len(),
        q.params(),
        q.macs(),
        args.out.display()
    );
    print_report(&g, &q, &plan, args)?;
    if let Some(note) = epsilon_note(&g, &q, &plan) {
        println!("\n{note}");
    }
    Ok(())
}

/// A warning for noise-prediction networks whose output grid cannot resolve the data at the
/// noisiest step: there `eps = (x - alpha x0) / sigma` carries the data only through
/// `alpha / sigma x0`, and sampling divides the error by `alpha` again.
fn epsilon_note(g: &FloatGraph, q: &QGraph, plan: &Plan) -> Option<String> {
    let first = plan.rows.first()?;
    let data_gain = first.alpha / first.sigma;
    let lsb = q.qparams.first()?.get(q.tensors[q.output].qparam)?.scale;
    (g.prediction == PredictionType::Epsilon && data_gain < lsb).then(|| {
        format!(
            "note: noise prediction: at t={} the data enters the output as {data_gain:.4} x0, \
             below one output LSB ({lsb:.4}), so the int8 network cannot see the data at the \
             noisiest steps. A network trained to predict v (edgediff train --objective v) \
             keeps it on the grid (docs/quantization.md).",
            first.t
        )
    })
}

/// Float vs fake-quantized int8 along 32 float sampling trajectories.
fn print_report(
    g: &FloatGraph,
    q: &crate::ir::QGraph,
    plan: &Plan,
    args: &Args,
) -> Result<(), Error> {
    let deq = dequantized(q, g);
    let mut states: Vec<(usize, Vec<f32>)> = vec![];
    {
        let mut observe =
            |step: usize, vals: &[Vec<f32>]| states.push((step, vals[g.input].clone()));
        let mut den = FloatDenoiser {
            graph: g,
            guidance: args.guidance,
            observe: Some(&mut observe),
        };
        let job = Job {
            plan,
            prediction: g.prediction,
            clip_sample: None,
            dim: g.tensors[g.input].len(),
            n: 32,
            labels: &[],
            seed: args.seed ^ 0x7e57,
        };
        job.run(&mut den)?;
    }
    let mut report = Report::default();
    for (step, x) in &states {
        report.add(g, q, &deq, x, *step, usize::from(g.num_classes));
    }
    println!("\nper-layer SQNR along 32 float trajectories (dB):");
    for (t, tensor) in g.tensors.iter().enumerate() {
        println!(
            "  {:<28} {:>14?} {:>7.1}",
            tensor.name,
            tensor.shape,
            report.sqnr(t)
        );
    }
    println!("\nper-step output error (mean |eps_float - eps_int8| / mean |eps_float|):");
    for (i, (err, n, mag)) in report.steps.iter().enumerate() {
        if *n > 0 {
            println!(
                "  step {i:>3} t={:>4}: {:.4} / {:.4} = {:.2}%",
                plan.rows[i].t,
                err / *n as f64,
                mag / *n as f64,
                100.0 * err / mag.max(1e-12)
            );
        }
    }
    Ok(())
}
