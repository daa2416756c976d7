//! `starvetrace`: thin dispatch over the library. Errors are printed as one
//! line with a documented exit code — never returned from `main`, which
//! would print a backtrace when RUST_BACKTRACE is set.

use clap::Parser as _;
use tracer::{
    cli::{Cli, Command},
    cmd,
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
        Command::Record(args) => cmd::record::run(&args)?,
        Command::Report(args) => cmd::report::run(&args)?,
        Command::Snapshot(args) => cmd::snapshot::run(&args)?,
        Command::Lab(args) => cmd::lab::run(args)?,
        Command::Demo(args) => cmd::demo::run(&args)?,
    }
    Ok(exit::OK)
}
