//! The checkpoint store of a training session: the best checkpoints by a chosen metric,
//! each written atomically into its own folder, the best recorded in `best.json`; and the
//! rules for where a session may write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use super::metric::Goal;
use super::metric::Metric;
use crate::error::{write_atomic, Error, Result};

/// One kept checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Optimizer step it was taken at.
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Its folder.
    pub dir: PathBuf,
    /// The value of the selection metric.
    pub value: f64,
    /// Every metric measured at this step.
    pub metrics: BTreeMap<Metric, f64>,
    /// True for the best of the kept checkpoints.
    pub best: bool,
}

/// Keeps the `keep` best checkpoints of a session by one metric (and always the latest,
/// so that a stopped session's final state survives) under `root/step-NNNNNN/`, each
/// written into a hidden temporary folder and renamed into place, and records them in
/// `root/checkpoints.json` and the best in `root/best.json`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    root: PathBuf,
    keep: usize,
    metric: Metric,
    goal: Goal,
    kept: Vec<CheckpointInfo>,
}

impl CheckpointStore {
    /// A store writing under `root` (created).
    pub fn new(root: &Path, keep: usize, metric: Metric, goal: Goal) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        Ok(CheckpointStore {
            root: root.to_path_buf(),
            keep: keep.max(1),
            metric,
            goal,
            kept: Vec::new(),
        })
    }

    /// The selection metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The kept checkpoints in step order (the best marked).
    pub fn list(&self) -> &[CheckpointInfo] {
        &self.kept
    }

    /// The best kept checkpoint.
    pub fn best(&self) -> Option<&CheckpointInfo> {
        self.kept.iter().find(|c| c.best)
    }

    /// Saves a checkpoint: `write` fills a fresh folder (the model files), which is then
    /// renamed to `step-NNNNNN`; `metrics` must hold the selection metric (a missing one
    /// counts as NaN: never best). Older checkpoints beyond the kept ones are deleted.
    pub fn save(
        &mut self,
        step: usize,
        epoch: usize,
        metrics: BTreeMap<Metric, f64>,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<CheckpointInfo> {
        let name = format!("step-{step:06}");
        let dir = self.root.join(&name);
        let tmp = self
            .root
            .join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let written = write(&tmp).and_then(|_| {
            let json = serde_json::to_string_pretty(&metrics)
                .map_err(|e| Error::Invalid(format!("checkpoint metrics: {e}")))?;
            write_atomic(&tmp.join("metrics.json"), json.as_bytes())
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
        let value = metrics.get(&self.metric).copied().unwrap_or(f64::NAN);
        self.kept.retain(|c| c.step != step);
        self.kept.push(CheckpointInfo {
            step,
            epoch,
            dir,
            value,
            metrics,
            best: false,
        });
        self.prune()?;
        self.write_index()?;
        self.kept
            .iter()
            .find(|c| c.step == step)
            .cloned()
            .ok_or_else(|| Error::Invalid("checkpoint vanished".into()))
    }

    /// Ranks by the metric, keeps the best `keep` and the latest, marks the best.
    fn prune(&mut self) -> Result<()> {
        let goal = self.goal;
        let mut ranked: Vec<usize> = (0..self.kept.len()).collect();
        ranked.sort_by(|&a, &b| {
            let (x, y) = (&self.kept[a], &self.kept[b]);
            if goal.better(x.value, y.value) {
                std::cmp::Ordering::Less
            } else if goal.better(y.value, x.value) {
                std::cmp::Ordering::Greater
            } else {
                // Ties: the earlier checkpoint ranks first.
                x.step.cmp(&y.step)
            }
        });
        let latest = self.kept.iter().map(|c| c.step).max();
        let best_step = ranked.first().map(|&i| self.kept[i].step);
        let keep: Vec<usize> = ranked
            .iter()
            .take(self.keep)
            .map(|&i| self.kept[i].step)
            .chain(latest)
            .collect();
        let (stay, drop): (Vec<CheckpointInfo>, Vec<CheckpointInfo>) =
            self.kept.drain(..).partition(|c| keep.contains(&c.step));
        for c in drop {
            if c.dir.exists() {
                std::fs::remove_dir_all(&c.dir).map_err(|e| Error::io(&c.dir, e))?;
            }
        }
        self.kept = stay;
        self.kept.sort_by_key(|c| c.step);
        for c in &mut self.kept {
            c.best = Some(c.step) == best_step && !c.value.is_nan();
        }
        Ok(())
    }

    fn write_index(&self) -> Result<()> {
        let list = serde_json::to_string_pretty(&self.kept)
            .map_err(|e| Error::Invalid(format!("checkpoint list: {e}")))?;
        write_atomic(&self.root.join("checkpoints.json"), list.as_bytes())?;
        if let Some(b) = self.best() {
            let json = serde_json::json!({
                "metric": self.metric,
                "goal": self.goal,
                "step": b.step,
                "value": b.value,
                "dir": b.dir,
            });
            let text = serde_json::to_string_pretty(&json)
                .map_err(|e| Error::Invalid(format!("best checkpoint: {e}")))?;
            write_atomic(&self.root.join("best.json"), text.as_bytes())?;
        }
        Ok(())
    }
}

/// The Train tab's default output folder for `model`'s checkpoints (`sevlm`, `emosem`):
/// `<user data>/runs/<model>` (see [`crate::user_data_dir`]), never inside the shipped
/// folders. `None` only when no home folder is known.
pub fn default_output_dir(model: &str) -> Option<PathBuf> {
    crate::user_data_dir().map(|d| d.join("runs").join(model))
}

/// Refuses an output folder that is, contains or lies inside one of `protected` (the
/// shipped demo models, installed weights, the checkpoint a session starts from) or lies
/// in the shipped `assets/` or `models/` folders.
pub fn check_output_dir(out: &Path, protected: &[PathBuf]) -> Result<()> {
    if out.as_os_str().is_empty() {
        return Err(Error::Invalid(
            "choose an output folder for the checkpoints".into(),
        ));
    }
    if crate::is_shipped(out) {
        return Err(Error::Invalid(format!(
            "{}: refusing to write checkpoints into the shipped assets/ or models/ folder (choose another folder, e.g. {})",
            out.display(),
            default_output_dir("<model>")
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "~/.local/share/artemo/runs/<model>".into())
        )));
    }
    let norm = |p: &Path| -> PathBuf {
        // The nearest existing ancestor, canonicalised, with the rest appended.
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let mut head = abs.clone();
        let mut tail = Vec::new();
        while !head.exists() {
            match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
                (Some(n), Some(parent)) => {
                    tail.push(n);
                    head = parent.to_path_buf();
                }
                _ => return abs,
            }
        }
        let mut out = head.canonicalize().unwrap_or(head);
        for n in tail.into_iter().rev() {
            out.push(n);
        }
        out
    };
    let o = norm(out);
    for p in protected {
        let q = norm(p);
        if o.starts_with(&q) || q.starts_with(&o) {
            return Err(Error::Invalid(format!(
                "{}: refusing to write checkpoints here: it would overwrite {} (choose another folder)",
                out.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(v: f64) -> BTreeMap<Metric, f64> {
        BTreeMap::from([(Metric::ValLoss, v)])
    }

    #[test]
    fn best_checkpoints_are_kept_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::new(dir.path(), 2, Metric::ValLoss, Goal::Minimize).unwrap();
        let write = |d: &Path| write_atomic(&d.join("model.safetensors"), b"w");
        for (step, v) in [(10, 3.0), (20, 2.0), (30, 2.5), (40, 1.5), (50, 4.0)] {
            s.save(step, 1, metrics(v), write).unwrap();
        }
        // Best two (40, 20) and the latest (50).
        let steps: Vec<usize> = s.list().iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![20, 40, 50]);
        assert_eq!(s.best().unwrap().step, 40);
        assert_eq!(s.list().iter().filter(|c| c.best).count(), 1);
        for c in s.list() {
            assert!(c.dir.join("model.safetensors").is_file());
            assert!(c.dir.join("metrics.json").is_file());
        }
        assert!(!dir.path().join("step-000010").exists());
        assert!(!dir.path().join("step-000030").exists());
        let best: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("best.json")).unwrap())
                .unwrap();
        assert_eq!(best["step"], 40);
        // No temporary folder is left behind.
        let hidden = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(hidden, 0);
    }

    #[test]
    fn maximised_metric_and_nan_never_best_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::new(dir.path(), 1, Metric::Bleu1, Goal::Maximize).unwrap();
        let ok = |_: &Path| Ok(());
        s.save(1, 1, BTreeMap::new(), ok).unwrap();
        assert!(s.best().is_none(), "a missing metric is never best");
        let m = |v: f64| BTreeMap::from([(Metric::Bleu1, v)]);
        s.save(2, 1, m(0.2), ok).unwrap();
        s.save(3, 1, m(0.1), ok).unwrap();
        assert_eq!(s.best().unwrap().step, 2);
        let err = s.save(4, 1, m(0.9), |_| Err(Error::Invalid("disk full".into())));
        assert!(err.is_err());
        assert!(!dir.path().join("step-000004").exists());
        assert_eq!(s.best().unwrap().step, 2);
        assert!(Goal::Minimize.better(1.0, f64::NAN));
        assert!(!Goal::Minimize.better(f64::NAN, 1.0));
    }

    #[test]
    fn default_output_is_a_user_folder_and_shipped_folders_are_refused() {
        let d = default_output_dir("sevlm").unwrap();
        assert!(d.ends_with("runs/sevlm"), "{}", d.display());
        assert!(!crate::is_shipped(&d));
        let models = crate::find_models().unwrap();
        let e = check_output_dir(&models.join("my-run"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("shipped"), "{e}");
    }

    #[test]
    fn output_folder_may_not_touch_protected_models() {
        let dir = tempfile::tempdir().unwrap();
        let demo = dir.path().join("models/demo");
        std::fs::create_dir_all(demo.join("sevlm")).unwrap();
        let p = [demo.clone()];
        assert!(check_output_dir(&demo, &p).is_err());
        assert!(check_output_dir(&demo.join("sevlm"), &p).is_err());
        assert!(check_output_dir(&demo.join("new/run"), &p).is_err());
        assert!(check_output_dir(&dir.path().join("models"), &p).is_err());
        assert!(check_output_dir(&dir.path().join("runs/a"), &p).is_ok());
        assert!(check_output_dir(Path::new(""), &p).is_err());
    }
}
