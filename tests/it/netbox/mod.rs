//! NetBox as the source of reference data (SPEC §10), against a stand-in NetBox
//! ([`stand_in`]): passes, incremental updates, renames, deletions, outages, old plugin versions,
//! conflicts with local rows, the status and the mutation, the webhook, and the token kept out of
//! every log.

mod access;
mod passes;
mod push;
mod resilience;
mod rig;
mod stand_in;
