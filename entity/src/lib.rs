//! The tables of packer-gateway as sea-orm entities — nothing else lives here.
//!
//! One module per table (see `migration` for the DDL), plus [`enums`] for the string-backed
//! choice columns. No rule, no query and no GraphQL type is defined in this crate.

pub mod api_token;
pub mod build_event;
pub mod build_log_line;
pub mod cloud_image_template;
pub mod cloud_image_template_tenant;
pub mod cluster;
pub mod credentials_generation;
pub mod enums;
pub mod idempotency_key;
pub mod image_build;
pub mod image_definition;
pub mod image_definition_tenant;
pub mod netbox_sync;
pub mod plugin_settings;
pub mod proxmox_endpoint;
pub mod tenant;
pub mod user;
pub mod user_tenant;
