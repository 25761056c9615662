//! `packer-gateway`: parse the command line, run it.

use clap::Parser;
use packer_gateway::{cli, config::Cli, telemetry};

/// jemalloc instead of glibc malloc (issue 9): under load glibc's arena lock took about a quarter
/// of the CPU. Its options (pages returned after about a second) are compiled in from
/// `.cargo/config.toml`; see the README's Performance section.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init_logs(cli.log_format);
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("packer-gateway: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
