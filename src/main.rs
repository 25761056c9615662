//! `packer-gateway`: parse the command line, run it.

use clap::Parser;
use packer_gateway::{cli, config::Cli, telemetry};

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
