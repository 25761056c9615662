//! `packer-gateway`: parse the command line, run it.

use clap::Parser;
use packer_gateway::{cli, config::Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "packer_gateway=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("packer-gateway: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
