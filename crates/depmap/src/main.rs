//! The `depmap` command: it parses flags, wires the library crates together
//! and reports; the decisions live in the crates it calls.

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
    end_quietly_on_closed_stdout();
    let args = cli::Cli::parse();
    // The agent sets up its own logging (format from its config).
    if !matches!(args.command, cli::Command::Agent(_)) {
        init_logging(args.verbose);
    }
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("depmap: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `depmap baseline | head`: once the reader has gone, printing fails with
/// EPIPE (Rust programs ignore SIGPIPE), and `println!` turns that into a
/// panic with a backtrace. The reader closing the pipe is its choice, not an
/// error: end at once, silently, with status 0, as `depmap export` already
/// does for its own writes. Any other panic still reports as usual.
fn end_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
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
