//! The integration tests: one binary, one module per area, each test on a fresh database
//! (SQLite by default, PostgreSQL when `TEST_DATABASE_URL` is set).

mod support;

mod apq;
mod architecture;
mod auth;
mod auth_live;
mod authorization;
mod cors;
mod dashboard;
mod definitions;
mod dispatch;
mod edge_identity;
mod fanout;
mod filters;
mod frontend_clients;
mod hostile;
mod hostile_metrics;
mod http;
mod hygiene;
mod ids;
mod lifecycle;
mod limits;
mod logs;
mod logs_bench;
mod netbox;
mod outage;
mod outside_tools;
mod paging;
mod pool;
mod portability;
mod projection;
mod queries;
mod reference;
mod rest;
mod schema;
mod statements;
mod subscriptions;
mod telemetry;
mod template;
mod websocket;
mod ws_client;
