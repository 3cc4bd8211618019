//! The bootstrap flags shared by `client`, `exit` and `relay`, merged with their config files.

use crate::bootstrap_peers::{BOOTSTRAP_JSON_URLS, Sources};
use clap::Args;

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
    /// The sources: flags and config-file peers together; defaults unless either side turned
    /// them off; URLs from the flags, else the file, else the published ones.
    pub fn sources(
        &self,
        file_peers: &[String],
        file_no_default: bool,
        file_urls: &[String],
    ) -> Sources {
        let mut configured = self.bootstrap_peers.clone();
        configured.extend(file_peers.iter().cloned());
        let no_default = self.no_default_bootstrap || file_no_default;
        let urls: Vec<String> = if !self.bootstrap_urls.is_empty() {
            self.bootstrap_urls.clone()
        } else if !file_urls.is_empty() {
            file_urls.to_vec()
        } else {
            BOOTSTRAP_JSON_URLS.iter().map(|u| u.to_string()).collect()
        };
        Sources {
            built_in: !no_default,
            // An explicit URL is fetched even with the defaults off: it was asked for.
            remote_urls: if no_default && self.bootstrap_urls.is_empty() && file_urls.is_empty() {
                Vec::new()
            } else {
                urls
            },
            configured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_file_merge() {
        let args = BootstrapArgs {
            bootstrap_peers: vec!["1.2.3.4:4003".into()],
            ..Default::default()
        };
        let s = args.sources(&["5.6.7.8:4003".into()], false, &[]);
        assert_eq!(s.configured, vec!["1.2.3.4:4003", "5.6.7.8:4003"]);
        assert!(s.built_in);
        assert_eq!(s.remote_urls.len(), BOOTSTRAP_JSON_URLS.len());

        let off = BootstrapArgs {
            no_default_bootstrap: true,
            ..Default::default()
        };
        let s = off.sources(&[], false, &[]);
        assert!(!s.built_in && s.remote_urls.is_empty());
        let s = BootstrapArgs::default().sources(&[], true, &[]);
        assert!(!s.built_in && s.remote_urls.is_empty());

        let local = BootstrapArgs {
            no_default_bootstrap: true,
            bootstrap_urls: vec!["http://127.0.0.1:9/bootstrap.json".into()],
            ..Default::default()
        };
        let s = local.sources(&[], false, &[]);
        assert!(!s.built_in);
        assert_eq!(s.remote_urls, vec!["http://127.0.0.1:9/bootstrap.json"]);
    }
}
