//! The integration tests: one binary, one module per area, each test on a fresh database
//! (SQLite by default, PostgreSQL when `TEST_DATABASE_URL` is set).

mod support;

mod http;
mod hygiene;
mod limits;
mod outside_tools;
mod schema;
