//! A fused AdamW with parameter groups, global-norm gradient clipping and learning-rate
//! schedules, shared by every trainable model.
//!
//! Why not `candle_nn::AdamW`: it runs about a dozen tensor operations per variable per
//! step (2.8 s per step on a 96 M-parameter model on two cores). Here the moments live in
//! plain `Vec<f32>`s and one pass per variable updates moments and weights together
//! (the same arithmetic as PyTorch's `torch.optim.AdamW`, decoupled weight decay).

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// AdamW hyper-parameters of one group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// Peak learning rate (before the schedule's factor).
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    /// PyTorch's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01).
    fn default() -> Self {
        AdamWParams {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWParams {
    /// Defaults with learning rate `lr`.
    pub fn with_lr(lr: f64) -> Self {
        AdamWParams {
            lr,
            ..Default::default()
        }
    }
}

/// How the learning rate changes over training (a factor applied to each group's `lr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Always the peak rate.
    Constant,
    /// Linear warm-up over `warmup` steps, then linear decay to 0 at `total` steps
    /// (`transformers.get_linear_schedule_with_warmup`).
    Linear {
        /// Warm-up steps (0: none).
        warmup: usize,
        /// Total steps.
        total: usize,
    },
    /// Linear warm-up, then half-cosine decay to 0 at `total` steps
    /// (`transformers.get_cosine_schedule_with_warmup`).
    Cosine {
        /// Warm-up steps (0: none).
        warmup: usize,
        /// Total steps.
        total: usize,
    },
}

impl Schedule {
    /// The factor at `step` (0-based: the factor used for the first update is `factor(0)`).
    pub fn factor(&self, step: usize) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Linear { warmup, total } => {
                if step < warmup {
                    step as f64 / warmup.max(1) as f64
                } else {
                    ((total.saturating_sub(step)) as f64
                        / (total.saturating_sub(warmup)).max(1) as f64)
                        .clamp(0.0, 1.0)
                }
            }
            Schedule::Cosine { warmup, total } => {
                if step < warmup {
                    step as f64 / warmup.max(1) as f64
                } else {
                    let p = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
                    0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
                }
            }
        }
    }
}

struct Slot {
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
}

struct Group {
    params: AdamWParams,
    slots: Vec<Slot>,
}

/// AdamW over named groups of variables.
pub struct AdamW {
    groups: Vec<Group>,
    schedule: Schedule,
    step: usize,
    clip: Option<f64>,
    skip_nonfinite: bool,
}

/// What one [`AdamW::step_with`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// The schedule factor used.
    pub lr_factor: f64,
    /// Variables that received no gradient this step.
    pub without_gradient: usize,
    /// The update was skipped because a gradient was not finite (only with
    /// [`AdamW::with_skip_nonfinite`]).
    pub skipped: bool,
}

impl AdamW {
    /// An optimizer with the given schedule; add groups with [`add_group`](Self::add_group).
    pub fn new(schedule: Schedule) -> Self {
        AdamW {
            groups: Vec::new(),
            schedule,
            step: 0,
            clip: None,
            skip_nonfinite: false,
        }
    }

    /// Clips the global gradient norm to `max_norm` before each update
    /// (`torch.nn.utils.clip_grad_norm_`).
    pub fn with_clip(mut self, max_norm: f64) -> Self {
        self.clip = Some(max_norm);
        self
    }

    /// Skips (rather than fails) a step whose gradients are not finite: the variables and
    /// moments stay as they were, the step counter does not advance, and the report says
    /// `skipped` (mixed-precision trainers do the same on overflow).
    pub fn with_skip_nonfinite(mut self) -> Self {
        self.skip_nonfinite = true;
        self
    }

    /// Adds a group of f32 variables with its own hyper-parameters.
    pub fn add_group(&mut self, vars: Vec<Var>, params: AdamWParams) -> Result<()> {
        let mut slots = Vec::with_capacity(vars.len());
        for var in vars {
            if var.dtype() != DType::F32 {
                return Err(Error::Invalid(format!(
                    "AdamW trains f32 variables, got {:?}",
                    var.dtype()
                )));
            }
            let n = var.elem_count();
            slots.push(Slot {
                var,
                m: vec![0.0; n],
                v: vec![0.0; n],
            });
        }
        self.groups.push(Group { params, slots });
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Restores the step counter (when resuming; the moments restart at zero).
    pub fn set_steps(&mut self, step: usize) {
        self.step = step;
    }

    /// The learning rate of group `g` at the current step.
    pub fn current_lr(&self, g: usize) -> f64 {
        self.groups
            .get(g)
            .map(|gr| gr.params.lr * self.schedule.factor(self.step))
            .unwrap_or(0.0)
    }

    /// Computes the gradients of `loss` and applies one update.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<StepReport> {
        let grads = loss.backward()?;
        self.step_with(&grads)
    }

    /// Applies one update from precomputed gradients.
    pub fn step_with(&mut self, grads: &GradStore) -> Result<StepReport> {
        // Gather gradients as flat f32 vectors.
        let mut flat: Vec<Vec<Option<Vec<f32>>>> = Vec::with_capacity(self.groups.len());
        let mut sq = 0f64;
        let mut missing = 0;
        for g in &self.groups {
            let mut gv = Vec::with_capacity(g.slots.len());
            for s in &g.slots {
                match grads.get(s.var.as_tensor()) {
                    Some(t) => {
                        let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                        sq += v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>();
                        gv.push(Some(v));
                    }
                    None => {
                        missing += 1;
                        gv.push(None);
                    }
                }
            }
            flat.push(gv);
        }
        let grad_norm = sq.sqrt();
        if !grad_norm.is_finite() && self.skip_nonfinite {
            return Ok(StepReport {
                grad_norm,
                lr_factor: self.schedule.factor(self.step),
                without_gradient: missing,
                skipped: true,
            });
        }
        if !grad_norm.is_finite() {
            return Err(Error::Invalid(format!(
                "non-finite gradient norm ({grad_norm}) at step {}: lower the learning rate",
                self.step
            )));
        }
        let clip_scale = match self.clip {
            Some(max) if grad_norm > max => (max / (grad_norm + 1e-6)) as f32,
            _ => 1.0,
        };
        let factor = self.schedule.factor(self.step);
        self.step += 1;
        let t = self.step as i32;
        for (g, gv) in self.groups.iter_mut().zip(flat) {
            let p = g.params;
            let lr = (p.lr * factor) as f32;
            let (b1, b2) = (p.beta1 as f32, p.beta2 as f32);
            let bc1 = 1.0 - p.beta1.powi(t) as f32;
            let bc2 = 1.0 - p.beta2.powi(t) as f32;
            let eps = p.eps as f32;
            let decay = 1.0 - lr * p.weight_decay as f32;
            for (s, grad) in g.slots.iter_mut().zip(gv) {
                let Some(grad) = grad else { continue };
                let t0 = s.var.as_tensor();
                let mut w = t0.flatten_all()?.to_vec1::<f32>()?;
                w.par_iter_mut()
                    .zip(s.m.par_iter_mut())
                    .zip(s.v.par_iter_mut())
                    .zip(grad.par_iter())
                    .for_each(|(((w, m), v), g)| {
                        let g = g * clip_scale;
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        let mh = *m / bc1;
                        let vh = *v / bc2;
                        *w = *w * decay - lr * mh / (vh.sqrt() + eps);
                    });
                let nt = Tensor::from_vec(w, t0.shape(), t0.device())?;
                s.var.set(&nt)?;
            }
        }
        Ok(StepReport {
            grad_norm,
            lr_factor: factor,
            without_gradient: missing,
            skipped: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedules_match_transformers() {
        let l = Schedule::Linear {
            warmup: 0,
            total: 10,
        };
        assert_eq!(l.factor(0), 1.0);
        assert!((l.factor(5) - 0.5).abs() < 1e-12);
        assert_eq!(l.factor(10), 0.0);
        let w = Schedule::Linear {
            warmup: 2,
            total: 12,
        };
        assert_eq!(w.factor(1), 0.5);
        assert_eq!(w.factor(2), 1.0);
        assert!((w.factor(7) - 0.5).abs() < 1e-12);
        let c = Schedule::Cosine {
            warmup: 0,
            total: 4,
        };
        assert_eq!(c.factor(0), 1.0);
        assert!((c.factor(2) - 0.5).abs() < 1e-12);
        assert!(c.factor(4).abs() < 1e-12);
    }

    /// Reference: two steps of `torch.optim.AdamW([w], lr=0.1, weight_decay=0.01)` on
    /// loss = sum(w^2) from w = [1, -2], computed by hand from PyTorch's update rule.
    #[test]
    fn matches_pytorch_adamw_by_hand() {
        let dev = Device::Cpu;
        let w = Var::from_vec(vec![1f32, -2.0], 2, &dev).unwrap();
        let mut opt = AdamW::new(Schedule::Constant);
        opt.add_group(vec![w.clone()], AdamWParams::with_lr(0.1))
            .unwrap();
        // Reference computed in f64 with the same rule.
        let mut wr = [1f64, -2.0];
        let (mut m, mut v) = ([0f64; 2], [0f64; 2]);
        for t in 1..=2 {
            let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
            for i in 0..2 {
                let g = 2.0 * wr[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                wr[i] = wr[i] * (1.0 - 0.1 * 0.01) - 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        for i in 0..2 {
            assert!((got[i] as f64 - wr[i]).abs() < 1e-5, "{got:?} vs {wr:?}");
        }
    }

    #[test]
    fn clipping_scales_the_update_and_reports_the_norm() {
        let dev = Device::Cpu;
        let w = Var::from_vec(vec![3f32, 4.0], 2, &dev).unwrap();
        let frozen = Var::from_vec(vec![1f32], 1, &dev).unwrap();
        let mut opt = AdamW::new(Schedule::Constant).with_clip(1.0);
        opt.add_group(vec![w.clone(), frozen.clone()], AdamWParams::with_lr(0.0))
            .unwrap();
        // loss = 0.5 * |w|^2: gradient = w, norm 5.
        let loss = (w.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
        let r = opt.backward_step(&loss).unwrap();
        assert!((r.grad_norm - 5.0).abs() < 1e-6);
        assert_eq!(r.without_gradient, 1);
        assert_eq!(frozen.as_tensor().to_vec1::<f32>().unwrap(), vec![1.0]);
    }

    #[test]
    fn non_finite_gradients_are_an_error() {
        let dev = Device::Cpu;
        let w = Var::from_vec(vec![0f32], 1, &dev).unwrap();
        let mut opt = AdamW::new(Schedule::Constant);
        opt.add_group(vec![w.clone()], AdamWParams::default())
            .unwrap();
        let loss = w.as_tensor().sqrt().unwrap().sum_all().unwrap();
        assert!(opt.backward_step(&loss).is_err());
    }
}
