//! Helpers shared by the dissection integration tests: where the shared data and the fixtures are.

use std::path::PathBuf;

use glassbox::dissect::job::DissectJob;

use crate::support;

pub fn fixtures() -> PathBuf {
    support::repo_dir().join("tests/fixtures/dissect")
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

/// A committed job of `precomputed/dissect/jobs/` (relative paths resolved), with its cache in a temp folder.
pub fn committed_job(name: &str) -> DissectJob {
    let path = support::repo_dir().join(format!("precomputed/dissect/jobs/{name}.json"));
    let mut job = DissectJob::from_file(&path).unwrap_or_else(|e| panic!("{e:#}"));
    require(job.probe_dir.clone());
    job.cache_dir = Some(std::env::temp_dir().join(format!("glassbox-dissect-cache-{name}")));
    job
}
