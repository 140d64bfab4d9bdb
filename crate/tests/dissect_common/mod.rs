//! Helpers shared by the dissection integration tests: where the shared data and the fixtures are.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

/// `shared/data` next to the repository (CI has the same layout), or `$GLASSBOX_SHARED`.
pub fn shared_data() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLASSBOX_SHARED") {
        return PathBuf::from(dir);
    }
    repo_root().join("../shared/data")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/dissect")
}

/// The shared data is required: a missing folder is a setup error, not a reason to pass.
pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: put shared/data next to the repository or set GLASSBOX_SHARED",
        path.display()
    );
    path
}
