//! The `tokengo` command line: arguments, config files, console and progress output, and the
//! commands that run the gateway roles (`tokengo-gateway`), discovery (`tokengo-discovery`)
//! and `tokengo dht`.

pub mod authority;
pub mod bootstrap_args;
pub mod commands;
pub mod config;
pub mod console;
pub mod dht;
pub mod keygen;
pub mod metrics;
pub mod progress;
pub mod status;
