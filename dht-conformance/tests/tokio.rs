//! The conformance suite on the tokio runtime.

dht_conformance::conformance_tests!(dht_conformance::TokioRuntime);
