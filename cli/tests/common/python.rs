//! The Python interpreter that runs the official SDKs against tokengo.
//!
//! `scripts/test` installs the SDKs into a virtualenv in `target/py` and names its interpreter
//! in `TOKENGO_TEST_PYTHON`; a plain `cargo test` after that finds the same virtualenv.

use std::path::PathBuf;
use std::process::Command;

/// A command running the SDKs' interpreter; panics with what to run when it is missing.
pub fn sdk_python() -> Command {
    let python = std::env::var_os("TOKENGO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/py/bin/python"
            ))
        });
    assert!(
        python.exists(),
        "{} is missing: run scripts/test once, which installs the Python SDKs the tests use",
        python.display()
    );
    Command::new(python)
}
