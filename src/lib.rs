//! packer-gateway: the source of truth for Packer image definitions and build records for
//! Proxmox VE. Modules in reading order; see the README's code map for the invariants.

pub mod admission;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod netbox;
pub mod registry;
pub mod rest;
pub mod routes;
pub mod telemetry;
