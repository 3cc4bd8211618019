//! The conformance suite on the mio runtime.

dht_conformance::conformance_tests!(dht_conformance::MioRuntime);
