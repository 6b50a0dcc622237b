//! The engine thread: an [`Engine`] handle owns background workers that run jobs sent as
//! [`Command`]s over a bounded channel and report [`Event`]s (progress with fraction, ETA
//! and message; result; error; cancellation) on an unbounded channel. Each job has an id
//! and a cancellation flag checked between steps; a panic inside a job becomes an error
//! event and the engine keeps serving. A wake-up callback lets a GUI repaint when an
//! event arrives.
//!
//! Two lanes keep the application responsive: `Io` (decoding images, reading files) and
//! `Compute` (inference, training), each with its own thread, so a long training job
//! never delays thumbnails.
//!
//! Jobs share one registry of loaded models ([`LoadedModels`]): a model is loaded by the
//! first request that needs it and reused by every later one.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};

pub use super::command::Command;
use super::models::LoadedModels;
pub use super::output::{JobOutput, LoadedImage};
use crate::device::{default_threads, select_device, DevicePreference};
use crate::error::{Error, Result};

/// Identifies a job.
pub type JobId = u64;

/// A job body for [`Command::Run`]: anything that reports through a [`JobContext`].
pub type JobFn = Box<dyn FnOnce(&JobContext) -> Result<JobOutput> + Send>;

/// Which worker thread runs a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Short reads and decodes.
    Io,
    /// Model inference and training.
    Compute,
}

/// What happened to a job.
#[derive(Debug)]
pub enum EventKind {
    /// The job started running.
    Started {
        /// Its name.
        name: String,
    },
    /// Progress of a running job.
    Progress {
        /// Done share, 0..1.
        fraction: f32,
        /// Estimated time left, once there is enough progress to guess it.
        eta: Option<Duration>,
        /// What it is doing.
        message: String,
    },
    /// A piece of output streamed before the job finishes (a generated token, an
    /// evaluation result of a training run, ...).
    Partial(JobOutput),
    /// The job finished.
    Done(JobOutput),
    /// The job failed (a panic is reported here too).
    Failed(String),
    /// The job stopped because it was cancelled.
    Cancelled,
}

/// An event about a job.
#[derive(Debug)]
pub struct Event {
    /// The job.
    pub job: JobId,
    /// What happened.
    pub kind: EventKind,
}

/// Passed to a running job: progress reporting and the cancellation flag.
pub struct JobContext {
    id: JobId,
    cancel: Arc<AtomicBool>,
    events: Sender<Event>,
    wake: Arc<dyn Fn() + Send + Sync>,
    started: Instant,
    device: candle_core::Device,
    models: Arc<LoadedModels>,
}

impl JobContext {
    /// The job id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// True once the job has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Returns `Err(Error::Cancelled)` once the job has been cancelled: call it between
    /// steps with `?`.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The compute device of this engine.
    pub fn device(&self) -> &candle_core::Device {
        &self.device
    }

    /// The engine's loaded models, shared by every job.
    pub fn models(&self) -> &LoadedModels {
        &self.models
    }

    /// Streams a piece of output (see [`EventKind::Partial`]).
    pub fn partial(&self, output: JobOutput) {
        let _ = self.events.send(Event {
            job: self.id,
            kind: EventKind::Partial(output),
        });
        (self.wake)();
    }

    /// Reports progress; the ETA is extrapolated from the elapsed time.
    pub fn progress(&self, fraction: f32, message: impl Into<String>) {
        let fraction = fraction.clamp(0.0, 1.0);
        let elapsed = self.started.elapsed();
        let eta = (fraction > 0.01 && elapsed > Duration::from_millis(200))
            .then(|| elapsed.mul_f32((1.0 - fraction) / fraction));
        let _ = self.events.send(Event {
            job: self.id,
            kind: EventKind::Progress {
                fraction,
                eta,
                message: message.into(),
            },
        });
        (self.wake)();
    }
}

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Compute threads (default: all cores but one).
    pub threads: usize,
    /// CPU or GPU.
    pub device: DevicePreference,
    /// Commands that may wait per lane before `submit` reports the engine busy.
    pub queue: usize,
    /// Called after every event (a GUI passes its repaint request here).
    pub wake: Arc<dyn Fn() + Send + Sync>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threads: default_threads(),
            device: DevicePreference::Cpu,
            queue: 1024,
            wake: Arc::new(|| {}),
        }
    }
}

struct Queued {
    id: JobId,
    cmd: Command,
    cancel: Arc<AtomicBool>,
}

/// The handle to the engine's threads. Dropping it stops them after their current job.
pub struct Engine {
    lanes: HashMap<Lane, Sender<Queued>>,
    events: Receiver<Event>,
    next: AtomicU64,
    cancels: Arc<Mutex<HashMap<JobId, Arc<AtomicBool>>>>,
    /// Jobs submitted and not yet ended, in submission order, with their lane and name
    /// (what a queued job waits behind).
    live: Arc<Mutex<Vec<(JobId, Lane, String)>>>,
    threads: Vec<JoinHandle<()>>,
    device_name: String,
    device_note: Option<String>,
    n_threads: usize,
    models: Arc<LoadedModels>,
}

impl Engine {
    /// Starts the engine threads.
    pub fn start(config: EngineConfig) -> Result<Engine> {
        let choice = select_device(config.device);
        let (ev_tx, ev_rx) = unbounded();
        let cancels: Arc<Mutex<HashMap<JobId, Arc<AtomicBool>>>> = Arc::default();
        let live: Arc<Mutex<Vec<(JobId, Lane, String)>>> = Arc::default();
        let mut lanes = HashMap::new();
        let mut threads = Vec::new();
        let n_threads = config.threads.max(1);
        let models: Arc<LoadedModels> = Arc::default();
        for lane in [Lane::Io, Lane::Compute] {
            let (tx, rx) = bounded::<Queued>(config.queue.max(1));
            lanes.insert(lane, tx);
            let events = ev_tx.clone();
            let wake = config.wake.clone();
            let cancels = cancels.clone();
            let live = live.clone();
            let device = choice.device.clone();
            let lane_models = models.clone();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(if lane == Lane::Compute { n_threads } else { 1 })
                .thread_name(move |i| format!("artemo-{lane:?}-{i}"))
                .build()
                .map_err(|e| Error::Invalid(format!("cannot start the engine threads: {e}")))?;
            let handle = std::thread::Builder::new()
                .name(format!("artemo-engine-{lane:?}"))
                .spawn(move || {
                    for q in rx {
                        let ctx = JobContext {
                            id: q.id,
                            cancel: q.cancel.clone(),
                            events: events.clone(),
                            wake: wake.clone(),
                            started: Instant::now(),
                            device: device.clone(),
                            models: lane_models.clone(),
                        };
                        let send = |kind| {
                            let _ = events.send(Event { job: q.id, kind });
                            wake();
                        };
                        if q.cancel.load(Ordering::Relaxed) {
                            send(EventKind::Cancelled);
                        } else {
                            let name = q.cmd.name();
                            tracing::debug!(job = q.id, lane = ?lane, "{name}: started");
                            send(EventKind::Started { name: name.clone() });
                            let cmd = q.cmd;
                            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                pool.install(|| cmd.run(&ctx))
                            }));
                            let secs = ctx.started.elapsed().as_secs_f64();
                            let kind = match outcome {
                                Ok(Ok(out)) => {
                                    tracing::debug!(job = q.id, secs, "{name}: done");
                                    EventKind::Done(out)
                                }
                                Ok(Err(Error::Cancelled)) => {
                                    tracing::debug!(job = q.id, secs, "{name}: cancelled");
                                    EventKind::Cancelled
                                }
                                Ok(Err(e)) => {
                                    tracing::error!(
                                        job = q.id,
                                        secs,
                                        "{name}: failed: {}",
                                        cause_chain(&e)
                                    );
                                    EventKind::Failed(e.to_string())
                                }
                                Err(panic) => {
                                    let msg = panic
                                        .downcast_ref::<&str>()
                                        .map(|s| s.to_string())
                                        .or_else(|| panic.downcast_ref::<String>().cloned())
                                        .unwrap_or_else(|| "unknown panic".into());
                                    tracing::error!(job = q.id, secs, "{name}: panicked: {msg}");
                                    EventKind::Failed(format!("internal error (panic): {msg}"))
                                }
                            };
                            send(kind);
                        }
                        if let Ok(mut c) = cancels.lock() {
                            c.remove(&q.id);
                        }
                        if let Ok(mut l) = live.lock() {
                            l.retain(|(id, _, _)| *id != q.id);
                        }
                    }
                })
                .map_err(|e| Error::Invalid(format!("cannot start the engine thread: {e}")))?;
            threads.push(handle);
        }
        Ok(Engine {
            lanes,
            events: ev_rx,
            next: AtomicU64::new(1),
            cancels,
            live,
            threads,
            device_name: choice.name,
            device_note: choice.fallback,
            n_threads,
            models,
        })
    }

    /// Queues a command; returns its job id, or an error when the lane's queue is full
    /// or the engine has stopped.
    pub fn submit(&self, cmd: Command) -> Result<JobId> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        if let Ok(mut c) = self.cancels.lock() {
            c.insert(id, cancel.clone());
        }
        let lane = cmd.lane();
        let tx = self.lanes.get(&lane).ok_or(Error::EngineStopped)?;
        // Recorded before sending: the lane may finish the job before `try_send` returns.
        if let Ok(mut l) = self.live.lock() {
            l.push((id, lane, cmd.name()));
        }
        match tx.try_send(Queued { id, cmd, cancel }) {
            Ok(()) => Ok(id),
            Err(e) => {
                if let Ok(mut c) = self.cancels.lock() {
                    c.remove(&id);
                }
                if let Ok(mut l) = self.live.lock() {
                    l.retain(|(x, _, _)| *x != id);
                }
                match e {
                    TrySendError::Full(_) => Err(Error::Invalid(format!(
                        "the engine's {lane:?} queue is full; try again shortly"
                    ))),
                    TrySendError::Disconnected(_) => Err(Error::EngineStopped),
                }
            }
        }
    }

    /// Asks a queued or running job to stop; returns false for unknown or finished jobs.
    pub fn cancel(&self, id: JobId) -> bool {
        match self.cancels.lock().ok().and_then(|c| c.get(&id).cloned()) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// The names of the jobs that job `id` waits behind on its lane (the running one
    /// first, then those queued before it); empty once it runs, or for unknown jobs.
    pub fn waiting_behind(&self, id: JobId) -> Vec<String> {
        let Ok(l) = self.live.lock() else {
            return Vec::new();
        };
        let Some(k) = l.iter().position(|(x, _, _)| *x == id) else {
            return Vec::new();
        };
        let lane = l[k].1;
        l[..k]
            .iter()
            .filter(|(_, la, _)| *la == lane)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// The next event, if one is waiting.
    pub fn try_event(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting at most `timeout`.
    pub fn wait_event(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Runs one command and waits for its result, passing progress to `on_progress`
    /// (the CLI's path). Events of other jobs are dropped.
    pub fn run_blocking(
        &self,
        cmd: Command,
        on_progress: impl FnMut(f32, Option<Duration>, &str),
    ) -> Result<JobOutput> {
        self.run_streaming(cmd, on_progress, |_| {})
    }

    /// [`run_blocking`](Self::run_blocking) that also hands streamed output
    /// ([`EventKind::Partial`]) to `on_partial`.
    pub fn run_streaming(
        &self,
        cmd: Command,
        mut on_progress: impl FnMut(f32, Option<Duration>, &str),
        mut on_partial: impl FnMut(JobOutput),
    ) -> Result<JobOutput> {
        let id = self.submit(cmd)?;
        loop {
            let ev = self.events.recv().map_err(|_| Error::EngineStopped)?;
            if ev.job != id {
                continue;
            }
            match ev.kind {
                EventKind::Started { .. } => {}
                EventKind::Progress {
                    fraction,
                    eta,
                    message,
                } => on_progress(fraction, eta, &message),
                EventKind::Partial(out) => on_partial(out),
                EventKind::Done(out) => return Ok(out),
                EventKind::Failed(msg) => return Err(Error::Invalid(msg)),
                EventKind::Cancelled => return Err(Error::Cancelled),
            }
        }
    }

    /// The device name ("CPU", "CUDA GPU 0").
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Why the requested device was not used, if it was not.
    pub fn device_note(&self) -> Option<&str> {
        self.device_note.as_deref()
    }

    /// Compute threads.
    pub fn threads(&self) -> usize {
        self.n_threads
    }

    /// The loaded models shared by this engine's jobs.
    pub fn models(&self) -> &LoadedModels {
        &self.models
    }

    /// Forgets every loaded model: the next request loads its weights afresh (after models
    /// are installed, removed or pinned).
    pub fn forget_models(&self) {
        self.models.clear();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(c) = self.cancels.lock() {
            for flag in c.values() {
                flag.store(true, Ordering::Relaxed);
            }
        }
        self.lanes.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An error with its sources, `outer: inner: ...` (for the log; the window shows the
/// outer message).
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        // thiserror messages often repeat their source's text already.
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        src = s.source();
    }
    out
}

impl crate::progress::Progress for JobContext {
    fn report(&self, fraction: f32, message: &str) {
        self.progress(fraction, message);
    }
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

#[cfg(test)]
mod tests;
