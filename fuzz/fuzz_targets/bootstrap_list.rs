//! A downloaded `bootstrap.json` and its peer strings on arbitrary bytes: never panic; a list
//! is accepted only at version 1; every peer accepted names a non-zero port and prints as a
//! `HOST:PORT` that parses back to the same peer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_discovery::bootstrap::{PeerSpec, parse_bootstrap_json};

fn check(text: &str) {
    let Ok(peer) = text.parse::<PeerSpec>() else {
        return;
    };
    let port = match &peer {
        PeerSpec::Addr(addr) => addr.port(),
        PeerSpec::Host(_, port) => *port,
    };
    assert_ne!(port, 0, "{text:?} accepted with port 0");
    let printed = peer.to_string();
    let again: PeerSpec = printed.parse().expect("a printed peer parses");
    assert_eq!(again, peer, "{text:?} printed as {printed:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(peers) = parse_bootstrap_json(data) {
        let json: serde_json::Value = serde_json::from_slice(data).expect("accepted JSON parses");
        assert_eq!(json["version"], 1);
        for peer in &peers {
            check(peer);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});
