//! Where a panel's model weights are: the installed ones (found under `models/` by the
//! model's `locate`: real weights before the demo kit's) or a checkpoint folder the user
//! chose in the Train tab. Shared by the explanation, the Painting tab's masks, Review and
//! the Map.

use std::path::{Path, PathBuf};

/// The weights folder a panel uses.
#[derive(Debug, Clone)]
pub struct Located {
    /// The models folder, if found.
    pub models: Option<PathBuf>,
    /// A checkpoint folder used instead of the installed weights.
    pub pinned: Option<PathBuf>,
    /// The folder in use, if any.
    pub dir: Option<PathBuf>,
    locate: fn(&Path) -> Option<PathBuf>,
}

impl Located {
    /// Finds the models folder and the installed weights in it.
    pub fn find(locate: fn(&Path) -> Option<PathBuf>) -> Self {
        let models = artemo_engine::find_models();
        let dir = models.as_deref().and_then(locate);
        Located {
            models,
            pinned: None,
            dir,
            locate,
        }
    }

    /// Nothing looked up yet (no models folder, no weights).
    pub fn none(locate: fn(&Path) -> Option<PathBuf>) -> Self {
        Located {
            models: None,
            pinned: None,
            dir: None,
            locate,
        }
    }

    /// Looks for the weights again (after an import); true when the folder in use changed
    /// (what was computed with the old one must go).
    pub fn relocate(&mut self) -> bool {
        let dir = self
            .pinned
            .clone()
            .filter(|d| d.join("config.json").is_file() && d.join("model.safetensors").is_file())
            .or_else(|| self.models.as_deref().and_then(self.locate));
        let changed = dir != self.dir;
        self.dir = dir;
        changed
    }

    /// Uses the checkpoint folder `dir` instead of the installed weights (`None`: the
    /// installed ones again); true when the folder in use changed.
    pub fn pin(&mut self, dir: Option<PathBuf>) -> bool {
        self.pinned = dir;
        self.relocate()
    }
}

/// A panel that uses weights located by a `Located`: looking again and pinning a
/// checkpoint are the same for all; what a change drops is each panel's own.
pub trait UsesWeights {
    /// Where the panel's weights are.
    fn located(&mut self) -> &mut Located;
    /// Drops what was computed with the weights used before.
    fn weights_changed(&mut self);

    /// Looks for the weights again (after an import).
    fn relocate(&mut self) {
        if self.located().relocate() {
            self.weights_changed();
        }
    }

    /// Uses the checkpoint folder `dir` instead of the installed weights (`None`: the
    /// installed ones again).
    fn pin(&mut self, dir: Option<PathBuf>) {
        if self.located().pin(dir) {
            self.weights_changed();
        }
    }
}
