//! `starvetrace lab SCENARIO`: run a lab scenario (the `demo`'s target).

use crate::{
    cli::LabArgs,
    error::{Error, Result},
    lab::{LabError, LabOptions},
};

pub fn run(args: LabArgs) -> Result<()> {
    let opts = LabOptions {
        scenario: args
            .scenario
            .parse()
            .map_err(|e| Error::Usage(format!("{e}")))?,
        duration: std::time::Duration::from_secs_f64(args.duration),
        result_path: args.result,
    };
    let lab_err = |e: LabError| Error::Other(anyhow::anyhow!("lab: {e}"));
    match &opts.result_path {
        // Under `demo` stdout belongs to the report: write the result
        // to the file only, the summary to stderr.
        Some(path) => {
            let result = crate::lab::run_quietly(&opts).map_err(lab_err)?;
            let json = serde_json::to_string(&result).map_err(|e| Error::Other(e.into()))?;
            std::fs::write(path, json).map_err(|e| Error::Output {
                path: path.clone(),
                source: e,
            })?;
            eprint!("{}", result.summary());
        }
        None => {
            crate::lab::run(&opts).map_err(lab_err)?;
        }
    }
    Ok(())
}
