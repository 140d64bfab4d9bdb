//! Progress reporting and cancellation, shared by the CLI (indicatif bars) and the browser (callbacks).

/// Receives progress from long computations and may ask them to stop.
pub trait Progress {
    /// A new stage begins with `total` units of work (forward passes, images, samples...).
    fn stage(&self, _name: &str, _total: u64) {}
    /// `n` more units of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// Polled between units of work; when true the computation returns [`Cancelled`].
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere.
pub struct Silent;
impl Progress for Silent {}

/// The error a computation returns when its [`Progress`] asked it to stop.
#[derive(Debug, thiserror::Error)]
#[error("cancelled by the user")]
pub struct Cancelled;

/// Returns `Err(Cancelled)` when the caller asked to stop.
pub fn check_cancelled(progress: &dyn Progress) -> anyhow::Result<()> {
    if progress.is_cancelled() {
        Err(Cancelled.into())
    } else {
        Ok(())
    }
}
