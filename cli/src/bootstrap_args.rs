//! The bootstrap flags shared by `client`, `exit` and `relay`.

use clap::Args;
use tokengo_discovery::bootstrap::{BootstrapSettings, Sources};

/// Where a node finds its first DHT peers.
#[derive(Debug, Clone, Default, Args)]
pub struct BootstrapArgs {
    /// A bootstrap peer (repeatable): HOST:PORT, /ip4/A/udp/P, /ip6/A/udp/P or /dns4/NAME/udp/P,
    /// optionally followed by /p2p/ID.
    #[arg(long = "bootstrap-peer", value_name = "PEER")]
    pub bootstrap_peers: Vec<String>,
    /// Use only the given bootstrap peers: no built-in peers, no bootstrap.json.
    #[arg(long)]
    pub no_default_bootstrap: bool,
    /// Where to fetch bootstrap.json (repeatable, tried in order; replaces the defaults).
    #[arg(long = "bootstrap-url", value_name = "URL")]
    pub bootstrap_urls: Vec<String>,
}

impl BootstrapArgs {
    /// The sources of these flags merged with a config file's settings.
    pub fn sources(&self, file: BootstrapSettings) -> Sources {
        let flags = BootstrapSettings {
            peers: self.bootstrap_peers.clone(),
            no_default: self.no_default_bootstrap,
            urls: self.bootstrap_urls.clone(),
        };
        Sources::merge(&flags, &file)
    }
}
