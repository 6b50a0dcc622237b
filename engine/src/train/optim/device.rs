//! AdamW's device path: moments as tensors on the variable's own device and the update as
//! tensor operations there (the arithmetic of the host pass in `optim.rs`, operation for
//! operation, which is PyTorch's `torch.optim.AdamW` with decoupled weight decay). No
//! weight, gradient or moment is copied to the host; the one device-to-host read of a step,
//! the global gradient norm's partial sum per device, goes through [`HostReads`], which
//! counts it.
//!
//! The check that nothing else reaches the host is structural: between the markers
//! `device path: begin` and `device path: end` below there is no host transfer at all
//! (no `to_vec*`, `to_scalar`, `to_device`, host tensor constructor or CPU device), which
//! a test reads from this file's source; the only read is [`HostReads::read_f64`], outside
//! the markers, and a test counts its calls.

use candle_core::{DType, Device, Tensor, Var};

use super::Hyper;
use crate::error::Result;

/// Device-to-host reads made by the device path.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostReads {
    /// Reads (one scalar each).
    pub reads: usize,
    /// Bytes read.
    pub bytes: usize,
}

impl HostReads {
    /// Reads a scalar to the host, counted.
    pub(super) fn read_f64(&mut self, t: &Tensor) -> Result<f64> {
        self.reads += 1;
        self.bytes += t.elem_count() * t.dtype().size_in_bytes();
        Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
    }
}

// device path: begin

/// A variable's first and second moments on its own device.
pub(super) struct DeviceMoments {
    m: Tensor,
    v: Tensor,
}

impl DeviceMoments {
    /// Zero moments shaped like `var`, allocated on its device.
    pub(super) fn zeros(var: &Var) -> Result<Self> {
        Ok(DeviceMoments {
            m: Tensor::zeros(var.shape(), DType::F32, var.device())?,
            v: Tensor::zeros(var.shape(), DType::F32, var.device())?,
        })
    }

    /// One AdamW update of `var` from `grad` (f32, detached, on the variable's device), in
    /// the host pass's order of operations (a division by a scalar is candle's
    /// multiplication by its reciprocal, within an ulp of the host's division):
    /// `g = grad * clip; m = b1 m + (1 - b1) g; v = b2 v + ((1 - b2) g) g;`
    /// `w = w decay - (lr (m / bc1)) / (sqrt(v / bc2) + eps)`.
    pub(super) fn update(&mut self, var: &Var, grad: &Tensor, h: &Hyper) -> Result<()> {
        let s = |x: f32| x as f64;
        let g = if h.clip_scale == 1.0 {
            grad.clone()
        } else {
            grad.affine(s(h.clip_scale), 0.0)?
        };
        let m = (self.m.affine(s(h.b1), 0.0)? + g.affine(s(1.0 - h.b1), 0.0)?)?;
        let v = (self.v.affine(s(h.b2), 0.0)? + g.affine(s(1.0 - h.b2), 0.0)?.mul(&g)?)?;
        let mh = m.affine(1.0 / s(h.bc1), 0.0)?;
        let denom = v
            .affine(1.0 / s(h.bc2), 0.0)?
            .sqrt()?
            .affine(1.0, s(h.eps))?;
        let step = mh.affine(s(h.lr), 0.0)?.div(&denom)?;
        // Detached: the update records no backward graph (a graph kept in the moments would
        // chain every step to the previous one).
        let w = var
            .as_tensor()
            .detach()
            .affine(s(h.decay), 0.0)?
            .sub(&step)?;
        var.set(&w)?;
        self.m = m;
        self.v = v;
        Ok(())
    }
}

/// A gradient made ready for [`DeviceMoments::update`] (detached, f32, still on its device),
/// its sum of squares (summed in f32 on the device, then carried in f64) added to the partial sum of its
/// device in `partials`.
pub(super) fn gather(partials: &mut Vec<(Device, Tensor)>, grad: &Tensor) -> Result<Tensor> {
    let grad = grad.detach().to_dtype(DType::F32)?;
    let sq = grad.sqr()?.sum_all()?.to_dtype(DType::F64)?;
    match partials
        .iter_mut()
        .find(|(d, _)| d.same_device(grad.device()))
    {
        Some((_, total)) => *total = (&*total + sq)?,
        None => partials.push((grad.device().clone(), sq)),
    }
    Ok(grad)
}

// device path: end

#[cfg(test)]
mod tests;
