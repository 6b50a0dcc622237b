//! System file dialogs (rfd: the xdg desktop portal, else zenity) on their own thread, and
//! telling a dialog that could not open from one the user cancelled: rfd answers `None`
//! for both, but a dialog that never showed answers at once, faster than anyone can
//! cancel one. Callers then say so and offer a path field instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// What a dialog gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// The user chose this path.
    Path(PathBuf),
    /// The user closed the dialog.
    Cancelled,
    /// No dialog could be shown (no desktop portal, no zenity).
    Unavailable,
}

/// The first words of the notice shown when no dialog could open.
pub const UNAVAILABLE: &str =
    "The system file dialog could not open (no desktop portal or zenity on this machine):";

/// A `None` answered faster than this means no dialog was shown.
const TOO_FAST: Duration = Duration::from_millis(400);

static FORCE_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Makes every dialog behave as on a machine without a desktop portal (the UI tests use
/// it; a desktop session under test would otherwise open real dialogs).
pub fn force_unavailable(on: bool) {
    FORCE_UNAVAILABLE.store(on, Ordering::Relaxed);
}

/// Runs `pick` (a blocking rfd call) on its own thread, so the window keeps drawing; the
/// answer arrives on the returned channel with `tag`, and the window is woken.
pub fn spawn<T: Send + 'static>(
    ctx: &egui::Context,
    tag: T,
    pick: impl FnOnce() -> Option<PathBuf> + Send + 'static,
) -> Receiver<(T, Picked)> {
    let (tx, rx) = channel();
    let ctx = ctx.clone();
    std::thread::spawn(move || {
        let picked = if FORCE_UNAVAILABLE.load(Ordering::Relaxed) {
            Picked::Unavailable
        } else {
            let t0 = Instant::now();
            match pick() {
                Some(p) => Picked::Path(p),
                None if t0.elapsed() < TOO_FAST => Picked::Unavailable,
                None => Picked::Cancelled,
            }
        };
        if picked == Picked::Unavailable {
            tracing::warn!("no system file dialog could be shown (desktop portal or zenity)");
        }
        // The window may have closed meanwhile: nobody is left to tell.
        let _ = tx.send((tag, picked));
        ctx.request_repaint();
    });
    rx
}
