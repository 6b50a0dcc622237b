//! Fused CPU epilogues of a frozen dense layer: bias, activation and residual in one pass.
//!
//! After a linear layer's matmul, candle adds the bias, applies the activation and adds the
//! residual as separate elementwise ops, each a full pass over the output on one thread
//! (`binary_map`/`unary_map` use no rayon); CLIP's `quick_gelu` alone is four passes. The
//! profile of issue 22 (`docs/speed.md`, "Where the time goes") put the bias add at 5-13 %
//! and GELU at 6-16 % of the small backbones' forwards, with the second core mostly idle.
//! Here the matmul's fresh output is finished in place by one pass over rayon's threads:
//! `y = act(y + bias)` or `y = y + bias + residual`.
//!
//! Used only where nothing needs a gradient (frozen weights on the CPU, f32); elsewhere
//! [`crate::models::nn::Dense`] composes candle's ops, and the tests below check that both
//! paths agree.

use candle_core::{CpuStorage, Layout, Result, Tensor};
use rayon::prelude::*;

use crate::models::nn::Activation;
use crate::models::vmath;

/// Elements per rayon task: big enough to amortise the split, small enough to share a
/// 50 x 768 output between two cores.
const CHUNK: usize = 1 << 13;

/// One element of GELU with the tanh approximation (GPT-2's `gelu_new`), as candle's
/// `gelu` and PyTorch's `gelu(approximate="tanh")`.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + vmath::tanh(SQRT_TWO_OVER_PI * x * (1.0 + 0.044_715 * x * x)))
}

/// One element of CLIP's `quick_gelu`, `x * sigmoid(1.702 x)`.
#[inline(always)]
fn quick_gelu(x: f32) -> f32 {
    x / (1.0 + vmath::exp(-1.702 * x))
}

/// `y = f(y + bias)` row by row over rayon's threads (`bias` of the row length; `None`:
/// no bias). Generic in `f`, so each activation gets its own vectorised loop.
fn map_rows<F: Fn(f32) -> f32 + Sync + Send>(y: &mut [f32], bias: Option<&[f32]>, f: F) {
    match bias {
        Some(bias) => {
            let n = bias.len().max(1);
            let chunk = CHUNK.div_ceil(n) * n;
            y.par_chunks_mut(chunk).for_each(|c| {
                for row in c.chunks_exact_mut(n) {
                    for (v, &b) in row.iter_mut().zip(bias) {
                        *v = f(*v + b);
                    }
                }
            });
        }
        None => y.par_chunks_mut(CHUNK).for_each(|c| {
            for v in c.iter_mut() {
                *v = f(*v);
            }
        }),
    }
}

/// [`map_rows`] with the element function of `act` (`None`: identity), chosen once.
fn apply(y: &mut [f32], bias: Option<&[f32]>, act: Option<Activation>) {
    match act {
        None => map_rows(y, bias, |x| x),
        Some(Activation::GeluErf) => map_rows(y, bias, crate::models::nn::gelu_erf_scalar),
        Some(Activation::GeluTanh) => map_rows(y, bias, gelu_tanh),
        Some(Activation::QuickGelu) => map_rows(y, bias, quick_gelu),
        Some(Activation::Relu) => map_rows(y, bias, |x: f32| x.max(0.0)),
    }
}

/// Whether the fused path may run: CPU f32 tensors that record no operations.
pub(crate) fn applies(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && !t.track_op())
}

/// The contiguous f32 slice of a storage, or an error naming `what`.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("dense epilogue: {what} must be a contiguous f32 tensor"),
    }
}

/// The contiguous f32 slice of the output, or an error.
fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("dense epilogue: the output must be a contiguous f32 tensor"),
    }
}

/// `y = act(y + bias)` in place, `bias` over the last dimension.
struct BiasAct(Option<Activation>);

impl candle_core::InplaceOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "dense-bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let bias = slice(s2, l2, "the bias")?;
        let y = slice_mut(s1, l1)?;
        let n = bias.len();
        if n == 0 || y.len() % n != 0 {
            candle_core::bail!("dense epilogue: {} outputs for a bias of {n}", y.len());
        }
        apply(y, Some(bias), self.0);
        Ok(())
    }
}

/// `y = y + bias + residual` in place.
struct BiasResidual;

impl candle_core::InplaceOp3 for BiasResidual {
    fn name(&self) -> &'static str {
        "dense-bias-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let bias = slice(s2, l2, "the bias")?;
        let res = slice(s3, l3, "the residual")?;
        let y = slice_mut(s1, l1)?;
        let n = bias.len();
        if n == 0 || y.len() % n != 0 || res.len() != y.len() {
            candle_core::bail!(
                "dense epilogue: {} outputs, a bias of {n}, a residual of {}",
                y.len(),
                res.len()
            );
        }
        let chunk = CHUNK.div_ceil(n) * n;
        y.par_chunks_mut(chunk)
            .zip(res.par_chunks(chunk))
            .for_each(|(c, r)| {
                for (row, rrow) in c.chunks_exact_mut(n).zip(r.chunks_exact(n)) {
                    for ((v, &b), &x) in row.iter_mut().zip(bias).zip(rrow) {
                        *v = (*v + b) + x;
                    }
                }
            });
        Ok(())
    }
}

/// `act(y + bias)`, finishing the matmul output `y` in place (it must be the caller's own
/// fresh tensor: nothing else may hold its storage).
pub(crate) fn bias_act(y: Tensor, bias: &Tensor, act: Option<Activation>) -> Result<Tensor> {
    y.inplace_op2(&bias.contiguous()?, &BiasAct(act))?;
    Ok(y)
}

/// `y + bias + residual`, finishing `y` in place (as [`bias_act`]).
pub(crate) fn bias_residual(y: Tensor, bias: &Tensor, residual: &Tensor) -> Result<Tensor> {
    if residual.dims() != y.dims() {
        candle_core::bail!(
            "dense epilogue: residual {:?} for an output {:?}",
            residual.dims(),
            y.dims()
        );
    }
    y.inplace_op3(&bias.contiguous()?, &residual.contiguous()?, &BiasResidual)?;
    Ok(y)
}

/// A parallel activation of a fresh tensor, in place (no bias).
struct Act(Activation);

impl candle_core::InplaceOp1 for Act {
    fn name(&self) -> &'static str {
        "dense-act"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
        let y = slice_mut(s, l)?;
        apply(y, None, Some(self.0));
        Ok(())
    }
}

/// `act(y)` in place on a fresh contiguous tensor.
pub(crate) fn act_in_place(y: Tensor, act: Activation) -> Result<Tensor> {
    y.inplace_op1(&Act(act))?;
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::nn::Dense;
    use candle_core::{DType, Device, Module, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        crate::models::tests::max_diff(a, b)
    }

    /// Reference: candle's composed ops (the path taken when gradients are needed).
    fn composed(d: &Dense, x: &Tensor, act: Option<Activation>) -> Tensor {
        let y = d.forward_unfused(x).unwrap();
        match act {
            Some(a) => a.forward(&y).unwrap(),
            None => y,
        }
    }

    #[test]
    fn fused_epilogues_equal_candles_composed_ops() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.5, (48, 32), &dev).unwrap();
        let b = Tensor::randn(0f32, 0.5, 48, &dev).unwrap();
        let d = Dense::new(w, Some(b)).unwrap();
        // Shapes of one row, of a ViT batch and of more than one rayon chunk.
        for shape in [vec![1, 32], vec![2, 50, 32], vec![3, 200, 32]] {
            let x = Tensor::randn(0f32, 2.0, shape.as_slice(), &dev).unwrap();
            for act in [
                None,
                Some(Activation::GeluErf),
                Some(Activation::GeluTanh),
                Some(Activation::QuickGelu),
                Some(Activation::Relu),
            ] {
                let got = d.forward_act(&x, act).unwrap();
                let want = composed(&d, &x, act);
                assert_eq!(got.dims(), want.dims());
                let diff = max_diff(&got, &want);
                assert!(diff < 2e-6, "{act:?} {shape:?}: {diff}");
            }
            let mut out_shape = shape.clone();
            *out_shape.last_mut().unwrap() = 48;
            let r = Tensor::randn(0f32, 1.0, out_shape.as_slice(), &dev).unwrap();
            let got = d.forward_add(&x, &r).unwrap();
            let want = (composed(&d, &x, None) + &r).unwrap();
            assert!(max_diff(&got, &want) < 1e-6);
        }
    }

    #[test]
    fn fused_path_leaves_its_inputs_alone() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.5, (8, 8), &dev).unwrap();
        let b = Tensor::randn(0f32, 0.5, 8, &dev).unwrap();
        let d = Dense::new(w, Some(b.clone())).unwrap();
        let x = Tensor::randn(0f32, 1.0, (4, 8), &dev).unwrap();
        let r = Tensor::randn(0f32, 1.0, (4, 8), &dev).unwrap();
        let (x0, r0, b0) = (x.copy().unwrap(), r.copy().unwrap(), b.copy().unwrap());
        let first = d.forward_add(&x, &r).unwrap();
        let _ = d.forward_act(&x, Some(Activation::QuickGelu)).unwrap();
        let second = d.forward_add(&x, &r).unwrap();
        assert_eq!(max_diff(&first, &second), 0.0);
        for (a, b) in [(&x, &x0), (&r, &r0), (&b, &b0)] {
            assert_eq!(max_diff(a, b), 0.0);
        }
    }

    #[test]
    fn trainable_layers_keep_their_gradients() {
        // A variable weight takes the composed path: every parameter gets a gradient.
        let dev = Device::Cpu;
        let vm = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let d = crate::models::nn::dense(6, 4, true, vb.pp("l")).unwrap();
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 6), &dev).unwrap()).unwrap();
        let r = Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap();
        let y = (d
            .forward_act(x.as_tensor(), Some(Activation::GeluTanh))
            .unwrap()
            + d.forward_add(x.as_tensor(), &r).unwrap())
        .unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
        assert!(grads.get(x.as_tensor()).is_some());
    }
}
