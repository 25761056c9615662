//! The dashboard (SPEC §8): served from the binary (headers, caching, nothing from elsewhere),
//! and used in Debian's chromium, headless and cut off from every host but 127.0.0.1, by
//! `tests/tools/dashboard.mjs` (playwright-core, pinned in tests/tools). Each test below seeds a
//! fresh database, serves the real router on a socket — behind a small proxy that can drop every
//! connection — and runs one case of the script, answering what it asks: a GraphQL request sent
//! by "another client" as some role, a wait for the page's subscription, a dropped connection.
//! Without node, playwright-core or chromium the browser tests print a loud skip and pass, unless
//! `PACKER_GATEWAY_REQUIRE_TOOLS=1` (which `.ci/run` sets). Screenshots of every case are written
//! under `target/tmp/dashboard-screenshots/` (or `$PACKER_GATEWAY_SCREENSHOTS`); the test prints
//! their paths.

mod browser;
mod proxy;
mod served;
mod stage;
