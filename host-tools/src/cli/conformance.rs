//! `edgediff conformance CASES.json`: one line per case, non-zero exit on any difference.

use super::Error;
use crate::diffusers::conformance::{read_cases, run as run_case};
use std::path::PathBuf;

/// Options of `edgediff conformance`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The cases, as `scripts/make-diffusers-cases.py` writes them.
    pub cases: PathBuf,
}

/// Runs every case; errors when any differs beyond its tolerance.
pub fn run(args: &Args) -> Result<(), Error> {
    let cases = read_cases(&args.cases)?;
    let mut failed = 0;
    for case in &cases {
        let o = run_case(case);
        if !o.ok {
            failed += 1;
        }
        let verdict = if o.ok { "ok     " } else { "differs" };
        match &o.error {
            Some(e) => println!("{verdict} {}: cannot run: {e}", case.name),
            None => println!(
                "{verdict} {}: mean|x| {:.7} (diffusers {:.7}, rel {:.1e}), sum|x| {:.4} \
                 (diffusers {:.4}), timesteps {}",
                case.name,
                o.abs_mean,
                case.abs_mean,
                o.rel_diff,
                o.abs_sum,
                case.abs_sum,
                if o.timesteps_equal {
                    "equal".to_string()
                } else {
                    format!("differ (max {:.3})", o.max_timestep_diff)
                }
            ),
        }
    }
    println!(
        "{} of {} cases conform ({})",
        cases.len() - failed,
        cases.len(),
        args.cases.display()
    );
    if failed > 0 {
        return Err(Error::Input(format!(
            "{}: {failed} of {} cases differ from diffusers",
            args.cases.display(),
            cases.len()
        )));
    }
    Ok(())
}
