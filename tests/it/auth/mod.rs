//! Who may do what (SPEC §4): the role matrix over every operation, read-only tokens,
//! credentials, anonymous access, and that no token secret or hash ever leaves the service.

mod matrix;
mod tenancy;
mod tokens;
