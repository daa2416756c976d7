//! `starvetrace`: thin dispatch over the library. Errors are printed as one
//! line with a documented exit code — never returned from `main`, which
//! would print a backtrace when RUST_BACKTRACE is set.

use clap::Parser as _;
use tracer::{
    cli::{Cli, Command},
    cmd,
    error::{Error, clap_one_line, exit},
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The hidden trampoline `record -- CMD` uses: `__hold FD -- CMD...`.
    if args.get(1).map(String::as_str) == Some(tracer::resolve::command::HOLD_SUBCOMMAND) {
        let fd = args.get(2).and_then(|f| f.parse().ok()).unwrap_or(-1);
        let code = tracer::resolve::command::hold_then_exec(fd, args.get(4..).unwrap_or_default());
        std::process::exit(code);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                // Help and version (also help shown for a bare `starvetrace`)
                // are not errors to squeeze into a line.
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    std::process::exit(if e.use_stderr() {
                        exit::USAGE
                    } else {
                        exit::OK
                    });
                }
                _ => {
                    eprintln!("starvetrace: error: {}", clap_one_line(&e.to_string()));
                    std::process::exit(exit::USAGE);
                }
            }
        }
    };
    init_logging(cli.verbose, matches!(cli.command, Command::Watch(_)));
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("starvetrace: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn init_logging(verbose: u8, watch: bool) {
    let level = match verbose {
        // `watch` logs its status lines at info when stderr is not a terminal.
        0 if watch => "warn,starvetrace::watch=info",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARVETRACE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in a captured or redirected stderr.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(command: Command) -> Result<i32, Error> {
    match command {
        Command::Record(args) => cmd::record::run(&args)?,
        Command::Report(args) => cmd::report::run(&args)?,
        Command::Snapshot(args) => cmd::snapshot::run(&args)?,
        Command::Lab(args) => cmd::lab::run(args)?,
        Command::Demo(args) => cmd::demo::run(&args)?,
        Command::Watch(args) => tracer::watch::run(&args)?,
    }
    Ok(exit::OK)
}
