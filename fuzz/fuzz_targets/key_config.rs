//! The KeyConfig parser on arbitrary bytes: never panics; whatever it accepts the `ohttp` crate
//! accepts too, keeps its bytes, and survives the base64 round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengo_gateway_proto::keys::PublicKeyConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = PublicKeyConfig::parse(data) {
        assert_eq!(cfg.encoded, data);
        assert_eq!(cfg.hash().len(), 32);
        assert!(cfg.to_ohttp().is_ok(), "ohttp rejects a config we accepted");
        let back = PublicKeyConfig::from_base64(&cfg.to_base64()).expect("round trip");
        assert_eq!(back, cfg);
    }
});
