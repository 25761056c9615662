//! `packer-gateway`: parse the command line, build the runtime, run it.

use clap::Parser;
use packer_gateway::{cli, config::Cli, telemetry};

/// jemalloc instead of glibc malloc (issue 9): under load glibc's arena lock took about a quarter
/// of the CPU. Its options (pages returned after about a second) are compiled in from
/// `.cargo/config.toml`; see the README's Performance section.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init_logs(cli.log_format);
    // tokio's multi-threaded runtime as `#[tokio::main]` builds it, but for the IO driver's
    // batch (`--io-events-per-tick`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_io_events_per_tick(cli.io_events_per_tick as usize)
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(cli::run(cli)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("packer-gateway: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
