//! The checked-in fuzz seeds are the messages they claim to be, so the fuzzers start from
//! inputs that reach past the first check.

use std::path::Path;
use tokengo_discovery::bootstrap::parse_bootstrap_json;
use tokengo_gateway_proto::http_message::{InnerRequest, InnerResponse, ResponseHead};

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn inner_message_seeds_decode() {
    let request = InnerRequest::decode(&seed("inner_message", "request")).expect("request");
    assert_eq!(request.path_and_query, "/v1/chat/completions?x=1");
    let response = InnerResponse::decode(&seed("inner_message", "response")).expect("response");
    assert_eq!(response.body, b"data: hi\n\n");
    let head = ResponseHead::decode(&seed("inner_message", "head")).expect("head");
    assert_eq!(head.status, 200);
}

#[test]
fn bootstrap_list_seeds_parse() {
    for name in ["bootstrap.json", "forms.json"] {
        let peers = parse_bootstrap_json(&seed("bootstrap_list", name)).expect(name);
        assert!(!peers.is_empty(), "{name}");
    }
}

#[test]
fn exit_descriptor_seed_verifies() {
    let bytes = seed("exit_descriptor", "descriptor");
    let d = tokengo_gateway_proto::descriptor::ExitDescriptor::verify(&bytes).expect("verifies");
    assert_eq!(d.key_configs.len(), 2);
    assert_eq!(d.models, ["llama3", "gpt-4o-mini"]);
    assert_eq!(d.admissions.len(), 1);
}
