//! Files by content and by place, for every module that reads them: the sha256 that manifests, dissection
//! tables and the CLI record, and where the shared test data lives (`$GLASSBOX_SHARED` or `../shared/data`),
//! with the redirection of manifest- and job-relative paths into it. A leaf: it uses no other module.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `shared/data`: `$GLASSBOX_SHARED` (the `shared` folder, or its `data` folder itself), else
/// `../shared/data` next to the repository this crate was built from.
pub fn shared_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLASSBOX_SHARED") {
        let dir = PathBuf::from(dir);
        return if dir.join("data").is_dir() {
            dir.join("data")
        } else {
            dir
        };
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Lowercase hex sha256 of `bytes` (what manifests and dissection tables record).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Resolves a path relative to `base` (a manifest's or a job file's folder); a path through
/// `…/shared/data/rest` goes to [`shared_data_dir`]`/rest` when `$GLASSBOX_SHARED` is set.
#[cfg(not(target_arch = "wasm32"))]
pub fn resolve_relative(base: &Path, rel: &Path) -> PathBuf {
    if std::env::var_os("GLASSBOX_SHARED").is_some() {
        let parts: Vec<_> = rel.components().collect();
        if let Some(i) = parts
            .windows(2)
            .position(|w| w[0].as_os_str() == "shared" && w[1].as_os_str() == "data")
        {
            let rest: PathBuf = parts[i + 2..].iter().collect();
            return shared_data_dir().join(rest);
        }
    }
    base.join(rel)
}
