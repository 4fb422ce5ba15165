//! The `depmap` command: it parses flags, wires the library crates together
//! and reports; the decisions live in the crates it calls.

/// `println!` that hands back the write's error instead of panicking:
/// `depmap baseline | head` closes the pipe, and the command then ends
/// quietly (see [`is_broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that hands back the write's error, as [`outln!`].
#[allow(unused_macros)]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod agent;
mod analyse;
mod cli;
mod clock;
mod demo;
mod export;
mod flows;
mod ingest;
mod inventory;
mod policy;
mod policy_life;
mod policy_render;
mod prune;
mod values;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The agent sets up its own logging (format from its config).
    if !matches!(args.command, cli::Command::Agent(_)) {
        init_logging(args.verbose);
    }
    match run(args) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("depmap: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `depmap baseline | head`: once the reader has gone, writing fails with
/// EPIPE (Rust programs ignore SIGPIPE). The reader closing the pipe is its
/// choice, not an error: the command ends at once, silently, with status 0,
/// as ripgrep does. Every write to standard output returns its error
/// ([`outln!`]), so it is found here in the error's chain.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(args: cli::Cli) -> anyhow::Result<ExitCode> {
    match args.command {
        cli::Command::Ingest(a) if a.flows => flows::ingest(a),
        cli::Command::Ingest(a) => ingest::run(a),
        cli::Command::Collect(a) => flows::collect(a),
        cli::Command::Capture(a) => agent::capture(a),
        cli::Command::Agent(a) => agent::agent(a, args.verbose),
        cli::Command::Export(a) => export::run(a),
        cli::Command::Demo(a) => demo::run(a),
        cli::Command::Baseline(a) => analyse::baseline(a),
        cli::Command::Drift(a) => analyse::drift_cmd(a),
        cli::Command::Prune(a) => prune::run(a),
        cli::Command::Policy(a) => policy::run(a),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEPMAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
