//! The build dispatcher (SPEC §7.1) with the `proxbox` backend (§7.2), run for real against a
//! stand-in of proxbox-api (`standin/`) on a real database.

mod adoption;
mod packer;
mod rig;
mod runs;
mod scheduling;
mod standin;
mod stops;
