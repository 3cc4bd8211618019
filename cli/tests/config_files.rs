//! The config files: the shipped ones and the Go TokenGo's load, and the small parsers they
//! share accept what they document and refuse the rest.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokengo::config::*;

const GO_RELAY: &str = r#"
listen: ":4433"
dht:
  enabled: true
  listen_addrs:
    - /ip4/0.0.0.0/tcp/4003
  external_addrs:
    - /ip4/43.156.60.67/udp/4433
  private_key_file: ./keys/relay_identity.key/identity.key
  mode: server
insecure_skip_verify: false
"#;

const GO_EXIT: &str = r#"
ohttp_private_key_file: ./keys/ohttp_private.key
ai_backend:
  url: http://localhost:11434
  api_key: ""
  headers:
    x-api-key: abc
dht:
  enabled: true
  bootstrap_peers:
    - /ip4/127.0.0.1/tcp/4003/p2p/12D3KooWCjYH5
"#;

#[test]
fn go_configs_load_with_unknown_keys_ignored() {
    let r: RelayFile = parse(GO_RELAY, Path::new("relay.yaml")).expect("relay");
    assert_eq!(r.listen.as_deref(), Some(":4433"));
    assert_eq!(
        r.dht.private_key_file.as_deref(),
        Some(Path::new("./keys/relay_identity.key/identity.key"))
    );
    // The Go relay's libp2p listen address names TCP 4003; our DHT takes the port, on UDP.
    assert_eq!(r.dht.listen_addrs.len(), 1);
    assert_eq!(
        parse_dht_listen(&r.dht.listen_addrs[0]).expect("dht listen"),
        "0.0.0.0:4003".parse().expect("a")
    );
    let e: ExitFile = parse(GO_EXIT, Path::new("exit.yaml")).expect("exit");
    assert_eq!(
        e.dht.bootstrap_peers,
        ["/ip4/127.0.0.1/tcp/4003/p2p/12D3KooWCjYH5"]
    );
    assert_eq!(e.ai_backend.url.as_deref(), Some("http://localhost:11434"));
    assert_eq!(
        e.ai_backend.headers.get("x-api-key").map(String::as_str),
        Some("abc")
    );
    let bare: ExitFile = parse("ai_backend:\ndht:\n", Path::new("e")).expect("empty sections");
    assert!(bare.dht.bootstrap_peers.is_empty() && bare.ai_backend.url.is_none());
    let c: ClientFile =
        parse("listen: \"127.0.0.1:8080\"\ntimeout: 30s\n", Path::new("c")).expect("client");
    assert_eq!(
        parse_duration(c.timeout.as_deref().unwrap_or("")).expect("dur"),
        Duration::from_secs(30)
    );
}

#[test]
fn shipped_configs_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let r: RelayFile = load(&dir.join("relay-dht.yaml")).expect("relay");
    assert_eq!(
        parse_listen(r.listen.as_deref().unwrap_or(""))
            .expect("listen")
            .port(),
        4433
    );
    assert_eq!(
        parse_dht_listen(&r.dht.listen_addrs[0]).expect("dht listen"),
        "0.0.0.0:4003".parse().expect("a")
    );
    let e: ExitFile = load(&dir.join("exit-dht.yaml")).expect("exit");
    assert_eq!(e.relay, None, "the shipped exit finds relays in the DHT");
    assert_eq!(
        parse_duration(e.ai_backend.timeout.as_deref().unwrap_or("")).expect("timeout"),
        Duration::from_secs(120)
    );
}

#[test]
fn dht_listen_forms() {
    for (text, addr) in [
        ("/ip4/0.0.0.0/udp/4003", "0.0.0.0:4003"),
        ("/ip4/0.0.0.0/tcp/4003", "0.0.0.0:4003"),
        ("/ip4/127.0.0.1/udp/4003/quic-v1", "127.0.0.1:4003"),
        ("/ip6/::/udp/4003", "[::]:4003"),
        ("127.0.0.1:4003", "127.0.0.1:4003"),
        (":4003", "0.0.0.0:4003"),
    ] {
        assert_eq!(
            parse_dht_listen(text).expect(text),
            addr.parse::<SocketAddr>().expect("a"),
            "{text}"
        );
    }
    for bad in [
        "/ip4/::/udp/4003",
        "/ip6/0.0.0.0/udp/4003",
        "/dns4/example.com/udp/4003",
        "/ip4/0.0.0.0/udp/port",
        "/ip4/0.0.0.0/udp/70000",
        "/ip4/0.0.0.0/sctp/4003",
        "/ip4/0.0.0.0",
        "nope",
    ] {
        assert!(parse_dht_listen(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn small_parsers() {
    assert_eq!(
        parse_listen(":4433").expect("l"),
        "0.0.0.0:4433".parse().expect("a")
    );
    assert!(parse_listen("nope").is_err());
    // The local proxy never opens to the network by a bare port.
    assert_eq!(
        parse_local_listen(":8080").expect("l"),
        "127.0.0.1:8080".parse().expect("a")
    );
    assert_eq!(
        parse_local_listen("0.0.0.0:8080").expect("l"),
        "0.0.0.0:8080".parse().expect("a"),
        "an explicit address is taken as written"
    );
    assert_eq!(parse_duration("2m").expect("d"), Duration::from_secs(120));
    assert_eq!(
        parse_duration("500ms").expect("d"),
        Duration::from_millis(500)
    );
    assert!(parse_duration("5x").is_err());
    assert_eq!(
        parse_duration("30d").expect("d"),
        Duration::from_secs(30 * 86_400)
    );
    assert!(
        parse_duration("300000000000000d").is_err(),
        "an overflow is an error, not a panic"
    );
    assert_eq!(
        parse_header(" X-Key : a:b ").expect("h"),
        ("X-Key".to_string(), "a:b".to_string())
    );
    assert!(parse_header(":v").is_err());
    assert!(parse_header("novalue").is_err());
}
