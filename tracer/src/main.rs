//! `starvetrace`: thin dispatch over the library. Errors are printed as one
//! line with a documented exit code — never returned from `main`, which
//! would print a backtrace when RUST_BACKTRACE is set.

use clap::Parser as _;
use tracer::{
    cli::{Cli, Command, Format},
    error::{Error, exit},
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The hidden trampoline `record -- CMD` uses: `__hold FD -- CMD...`.
    if args.get(1).map(String::as_str) == Some(tracer::resolve::command::HOLD_SUBCOMMAND) {
        let fd = args.get(2).and_then(|f| f.parse().ok()).unwrap_or(-1);
        let err = tracer::resolve::command::hold_then_exec(fd, args.get(4..).unwrap_or_default());
        eprintln!("starvetrace: error: {err}");
        std::process::exit(err.exit_code());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_logging(cli.verbose);
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("starvetrace: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARVETRACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(command: Command) -> Result<i32, Error> {
    match command {
        Command::Record(args) => {
            let rec = tracer::cmd::record::record(&args)?;
            tracer::report::emit(&rec, args.format, args.out.as_deref())?;
            Ok(exit::OK)
        }
        Command::Report(args) => {
            let rec = tracer::report::load(&args.file)?;
            tracer::report::emit(&rec, args.format, None)?;
            Ok(exit::OK)
        }
        Command::Snapshot(args) => {
            let snap = tracer::cmd::snapshot::snapshot(&args)?;
            match args.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&snap).map_err(|e| Error::Other(e.into()))?
                ),
                Format::Md | Format::Text => {
                    println!("{}", tracer::report::snapshot::render(&snap))
                }
            }
            Ok(exit::OK)
        }
        Command::Lab(args) => {
            let opts = tracer::lab::LabOptions {
                scenario: args
                    .scenario
                    .parse()
                    .map_err(|e| Error::Usage(format!("{e}")))?,
                duration: std::time::Duration::from_secs_f64(args.duration),
                result_path: args.result,
            };
            let lab_err = |e: tracer::lab::LabError| Error::Other(anyhow::anyhow!("lab: {e}"));
            match &opts.result_path {
                // Under `demo` stdout belongs to the report: write the result
                // to the file only, the summary to stderr.
                Some(path) => {
                    let result = tracer::lab::run_quietly(&opts).map_err(lab_err)?;
                    let json =
                        serde_json::to_string(&result).map_err(|e| Error::Other(e.into()))?;
                    std::fs::write(path, json).map_err(|e| Error::Output {
                        path: path.clone(),
                        source: e,
                    })?;
                    eprint!("{}", result.summary());
                }
                None => {
                    tracer::lab::run(&opts).map_err(lab_err)?;
                }
            }
            Ok(exit::OK)
        }
        Command::Demo(args) => {
            let rec = tracer::cmd::demo::demo(&args)?;
            tracer::report::emit(&rec, args.format, args.out.as_deref())?;
            Ok(exit::OK)
        }
    }
}
