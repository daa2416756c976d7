//! Runs a lab scenario through the library API (until `starvetrace lab` is wired):
//! `cargo run -p tracer --release --example lab -- SCENARIO [SECS] [RESULT_FILE]`.

use std::{process::ExitCode, time::Duration};

use tracer::lab::{self, LabOptions, Scenario};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        let (sc, why) = lab::host_memory_scenario();
        eprintln!(
            "usage: lab SCENARIO [SECS] [RESULT_FILE]  ({})",
            Scenario::NAMES.join(", ")
        );
        eprintln!("this host's memory scenario: {sc} ({why})");
        return ExitCode::from(2);
    };
    let scenario: Scenario = match name.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let opts = LabOptions {
        scenario,
        duration: Duration::from_secs_f64(secs),
        result_path: args.get(2).map(Into::into),
    };
    match lab::run(&opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starvetrace lab: {e}");
            ExitCode::FAILURE
        }
    }
}
