//! The engine jobs a panel submitted, each with what it is for: which events are the
//! panel's (`owns`), and what an event is about, forgotten once the job ends (`event`).

use std::collections::HashMap;

use artemo_engine::worker::{EventKind, JobId};

/// A panel's jobs in flight.
#[derive(Debug)]
pub struct Jobs<P> {
    map: HashMap<JobId, P>,
}

impl<P> Default for Jobs<P> {
    fn default() -> Self {
        Jobs {
            map: HashMap::new(),
        }
    }
}

impl<P: Clone> Jobs<P> {
    /// Records a submitted job.
    pub fn insert(&mut self, id: JobId, what: P) {
        self.map.insert(id, what);
    }

    /// True when `id` is one of these jobs.
    pub fn owns(&self, id: JobId) -> bool {
        self.map.contains_key(&id)
    }

    /// What an event of job `id` is about; the job is forgotten when `kind` ends it
    /// (done, failed or cancelled).
    pub fn event(&mut self, id: JobId, kind: &EventKind) -> Option<P> {
        let what = self.map.get(&id).cloned()?;
        if matches!(
            kind,
            EventKind::Done(_) | EventKind::Failed(_) | EventKind::Cancelled
        ) {
            self.map.remove(&id);
        }
        Some(what)
    }

    /// True when a job in flight is `f`'s.
    pub fn any(&self, f: impl Fn(&P) -> bool) -> bool {
        self.map.values().any(f)
    }

    /// The jobs in flight.
    pub fn iter(&self) -> impl Iterator<Item = (&JobId, &P)> {
        self.map.iter()
    }

    /// Forgets the jobs `f` picks and returns their ids (to cancel them).
    pub fn take(&mut self, f: impl Fn(&P) -> bool) -> Vec<JobId> {
        let ids: Vec<JobId> = self
            .map
            .iter()
            .filter(|(_, p)| f(p))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.map.remove(id);
        }
        ids
    }
}
