//! `edgediff schedule`: prints a step table, or writes it as a Rust `const` for firmware.

use super::Error;
use super::sampler_args::SamplerArgs;
use edgediff_runtime::schedule::codegen::rust_const;

/// Options of `edgediff schedule`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The schedule and sampler.
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Emit Rust source declaring `pub const NAME: [StepRow; N]` instead of a table.
    #[arg(long, value_name = "NAME")]
    pub rust_const: Option<String>,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Error> {
    let spec = args.sampler.resolve()?;
    let plan = spec.plan()?;
    if let Some(name) = &args.rust_const {
        print!("{}", rust_const(name, &plan.rows));
        return Ok(());
    }
    let older = plan.rows.iter().any(|r| r.history_slots() > 1);
    println!(
        "{:>4} {:>5} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}{}",
        "step",
        "t",
        "t_prev",
        "alpha",
        "sigma",
        "c_xt",
        "c_x0",
        "c_eps",
        "c_hist",
        "noise",
        if older { "    c_hist2    c_hist3" } else { "" }
    );
    for (i, r) in plan.rows.iter().enumerate() {
        let extra = if older {
            format!(" {:>10.6} {:>10.6}", r.c_hist2, r.c_hist3)
        } else {
            String::new()
        };
        println!(
            "{i:>4} {:>5} {:>6} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6}{extra}",
            r.t, r.t_prev, r.alpha, r.sigma, r.c_xt, r.c_x0, r.c_eps, r.c_hist, r.noise
        );
    }
    if plan.corrector_steps > 0 {
        println!(
            "Langevin corrector: {} steps per level",
            plan.corrector_steps
        );
    }
    let bytes = plan.rows.len() * core::mem::size_of::<edgediff_runtime::schedule::StepRow>();
    println!("{} rows, {bytes} bytes of flash as f32", plan.rows.len());
    Ok(())
}
