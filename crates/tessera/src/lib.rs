//! The library half of the `tessera` binary: configuration and how the
//! domain is built from it. It is a library so that the fuzz targets in
//! `fuzz/` run the real configuration loader; the command line
//! (`main.rs`) is the only other user. Not an API.

pub mod alloc;
pub mod config;
pub mod dns;
pub mod keys;
pub mod wiring;
