//! Layers shared by the models, each with a training-safe path.
//!
//! Candle 0.11 has no backward pass through its fused `layer_norm` and `softmax_last_dim`
//! kernels: gradients silently vanish. Every layer here therefore has two paths: fused
//! kernels for inference, and composed operations (`ops::layer_norm_slow`, `ops::softmax`)
//! when [`Mode::Train`] is selected, so that every parameter receives a gradient.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::models::epilogue;

/// Which kernels to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Fused kernels (fast, no gradients through norms and softmax).
    #[default]
    Infer,
    /// Composed kernels that support backpropagation.
    Train,
}

/// Layer normalisation over the last dimension (`weight`, `bias` as in PyTorch).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of size `dim`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Normalises `x`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match mode {
            Mode::Infer => candle_nn::ops::layer_norm(
                &x.contiguous()?,
                &self.weight,
                &self.bias,
                self.eps as f32,
            ),
            Mode::Train => {
                candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, self.eps as f32)
            }
        }
    }
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Infer => candle_nn::ops::softmax_last_dim(&x.contiguous()?),
        Mode::Train => candle_nn::ops::softmax(x, D::Minus1),
    }
}

/// A linear layer (`weight` [out, in], optional `bias`), as `torch.nn.Linear`.
pub fn linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    vb: VarBuilder,
) -> Result<candle_nn::Linear> {
    if bias {
        candle_nn::linear(in_dim, out_dim, vb)
    } else {
        candle_nn::linear_no_bias(in_dim, out_dim, vb)
    }
}

/// A linear layer like [`linear`]'s, for the backbones' hot paths: a frozen weight (a plain
/// tensor, as read from a checkpoint) is stored once transposed, `[in, out]` contiguous, so
/// each forward multiplies by a row-major right-hand side. Candle multiplies by the
/// transposed view `weight.t()` instead, which its matmul (the `gemm` crate) repacks on every
/// call: most of a ViT forward's time on the CPU (issue 22, `docs/speed.md`). A trainable
/// weight (a variable, updated in place by the optimiser) is used as it is, so training sees
/// every update.
#[derive(Debug, Clone)]
pub struct Dense {
    /// `[out, in]` (a variable) or `[in, out]` (frozen, transposed once).
    weight: Tensor,
    transposed: bool,
    bias: Option<Tensor>,
}

impl Dense {
    /// The layer of `weight` `[out, in]` and `bias` `[out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        if weight.is_variable() {
            return Ok(Dense {
                weight,
                transposed: false,
                bias,
            });
        }
        Ok(Dense {
            weight: weight.t()?.contiguous()?,
            transposed: true,
            bias,
        })
    }
}

impl Dense {
    /// `x W^T`, without the bias.
    fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        let w = if self.transposed {
            self.weight.clone()
        } else {
            self.weight.t()?
        };
        let w = match *x.dims() {
            [b1, b2, _, _] => w.broadcast_left((b1, b2))?,
            [b, _, _] => w.broadcast_left(b)?,
            _ => w,
        };
        x.matmul(&w)
    }

    /// `act(x W^T + b)`. On frozen CPU f32 tensors the bias and the activation are one
    /// parallel pass over the matmul's output (`models::epilogue`); otherwise candle's ops,
    /// which carry gradients.
    pub fn forward_act(&self, x: &Tensor, act: Option<Activation>) -> Result<Tensor> {
        let y = self.matmul(x)?;
        match (&self.bias, act) {
            (Some(b), _) if epilogue::applies(&[&y, b]) => epilogue::bias_act(y, b, act),
            (None, Some(a)) if epilogue::applies(&[&y]) => epilogue::act_in_place(y, a),
            (None, None) => Ok(y),
            (b, act) => {
                let y = match b {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                match act {
                    Some(a) => a.forward(&y),
                    None => Ok(y),
                }
            }
        }
    }

    /// `x W^T + b + residual` (a transformer block's skip connection), fused as
    /// [`Dense::forward_act`] where nothing needs a gradient.
    pub fn forward_add(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let y = self.matmul(x)?;
        match &self.bias {
            Some(b) if epilogue::applies(&[&y, b, residual]) => {
                epilogue::bias_residual(y, b, residual)
            }
            Some(b) => y.broadcast_add(b)? + residual,
            None => y + residual,
        }
    }

    /// `x W^T + b` by candle's composed ops (the reference of the fused path's tests).
    #[cfg(test)]
    pub(crate) fn forward_unfused(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.matmul(x)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, None)
    }
}

/// A [`Dense`] layer (`weight` [out, in], optional `bias`), as `torch.nn.Linear`.
pub fn dense(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Dense> {
    let l = linear(in_dim, out_dim, bias, vb)?;
    Dense::new(l.weight().clone(), l.bias().cloned())
}

/// GELU with the error function, `0.5 x (1 + erf(x / sqrt 2))`. On a CPU f32 tensor that
/// needs no gradient (frozen weights, as loaded from a checkpoint) it runs in one pass over
/// rayon's threads with erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7, the
/// polynomial of PyTorch's vectorised CPU `erf`); candle's `gelu_erf` calls a scalar
/// `erff` on one thread, which was half of TinyViT's forward (issue 22, `docs/speed.md`).
/// Elsewhere (gradients, other devices or types) it is candle's `gelu_erf`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.track_op() || !x.device().is_cpu() || x.dtype() != candle_core::DType::F32 {
        return x.gelu_erf();
    }
    x.contiguous()?.apply_op1_no_bwd(&GeluErfCpu)
}

/// [`gelu_erf`]'s CPU kernel.
struct GeluErfCpu;

/// One element of [`gelu_erf`].
#[inline(always)]
pub(crate) fn gelu_erf_scalar(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let erf = (1.0 - poly * crate::models::vmath::exp(-a * a)).copysign(z);
    0.5 * x * (1.0 + erf)
}

impl candle_core::CustomOp1 for GeluErfCpu {
    fn name(&self) -> &'static str {
        "gelu-erf-cpu"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let (candle_core::CpuStorage::F32(v), Some((a, b))) =
            (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("gelu-erf-cpu: a contiguous f32 tensor is needed")
        };
        let src = &v[a..b];
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(1 << 14)
            .zip(src.par_chunks(1 << 14))
            .for_each(|(d, s)| {
                for (d, &x) in d.iter_mut().zip(s) {
                    *d = gelu_erf_scalar(x);
                }
            });
        Ok((candle_core::CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// Activation functions used by the checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU with the exact error function (BERT, SAM).
    GeluErf,
    /// GELU with the tanh approximation (GPT-2's `gelu_new`).
    GeluTanh,
    /// CLIP's `quick_gelu`: x * sigmoid(1.702 x).
    QuickGelu,
    /// ReLU.
    Relu,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` / `activation_function` name.
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "quick_gelu" => Some(Activation::QuickGelu),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::GeluErf => gelu_erf(x),
            Activation::GeluTanh => x.gelu(),
            Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
            Activation::Relu => x.relu(),
        }
    }
}

/// Re-initialises every variable of `vm` deterministically from `seed` (candle's CPU
/// random generator cannot be seeded): weights with two or more dimensions get PyTorch's
/// default `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`; vectors named `*.bias` get zeros;
/// other vectors (norm weights) are left as initialised. Variables are visited in name
/// order, so the result depends only on the names, shapes and seed.
pub fn reseed(vm: &candle_nn::VarMap, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let data = vm
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            let n: usize = dims.iter().product();
            let vals: Vec<f32> = (0..n).map(|_| rng.gen_range(-bound..bound)).collect();
            var.set(&Tensor::from_vec(vals, dims.as_slice(), var.device())?)?;
        } else if name.ends_with(".bias") {
            var.set(&var.zeros_like()?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};
    use candle_nn::VarMap;

    #[test]
    fn train_mode_matches_inference_and_carries_gradients() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let ln = LayerNorm::new(4, 1e-5, vb.pp("ln")).unwrap();
        let x = Var::from_tensor(
            &Tensor::new(&[[1f32, 2.0, 3.0, 5.0], [0.5, -1.0, 2.0, 0.0]], &dev).unwrap(),
        )
        .unwrap();
        let a = ln.forward(x.as_tensor(), Mode::Infer).unwrap();
        let b = ln.forward(x.as_tensor(), Mode::Train).unwrap();
        let diff = crate::models::tests::max_diff(&a, &b);
        assert!(diff < 1e-5, "{diff}");
        let s = softmax(&b, Mode::Train).unwrap();
        let w = Tensor::new(&[1f32, 2.0, 3.0, 4.0], &dev).unwrap();
        let loss = s.broadcast_mul(&w).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        crate::models::tests::assert_every_var_has_gradient(&vm, &grads);
        let s_inf = softmax(&a.detach(), Mode::Infer).unwrap();
        let diff = crate::models::tests::max_diff(&s_inf, &s.detach());
        assert!(diff < 1e-6);
    }

    #[test]
    fn dense_equals_linear_frozen_or_trainable() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let var = dense(5, 3, true, vb.pp("l")).unwrap();
        let lin = linear(5, 3, true, vb.pp("l")).unwrap();
        let frozen = Dense::new(lin.weight().detach(), lin.bias().map(|b| b.detach())).unwrap();
        assert!(frozen.transposed && !var.transposed);
        for shape in [vec![4, 5], vec![2, 4, 5], vec![2, 3, 4, 5]] {
            let x = Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).unwrap();
            let want = lin.forward(&x).unwrap();
            for d in [&var, &frozen] {
                let got = d.forward(&x).unwrap();
                assert_eq!(got.dims(), want.dims());
                assert!(crate::models::tests::max_diff(&got, &want) < 1e-6);
            }
        }
        // A trainable weight follows the optimiser's in-place updates.
        let w = vm.data().lock().unwrap()["l.weight"].clone();
        w.set(&w.as_tensor().ones_like().unwrap()).unwrap();
        let x = Tensor::ones((1, 5), DType::F32, &dev).unwrap();
        let b = lin.bias().unwrap().to_vec1::<f32>().unwrap();
        let got = var
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (g, b) in got.iter().zip(b) {
            assert!((g - (5.0 + b)).abs() < 1e-6);
        }
    }

    #[test]
    fn fast_gelu_erf_equals_candles() {
        let dev = Device::Cpu;
        let vals: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0025).collect();
        let x = Tensor::new(vals.as_slice(), &dev).unwrap();
        let want = x.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let got = gelu_erf(&x).unwrap().to_vec1::<f32>().unwrap();
        for ((g, w), x) in got.iter().zip(&want).zip(&vals) {
            assert!((g - w).abs() <= 5e-7 * x.abs().max(1.0), "{x}: {g} vs {w}");
        }
        // Far tails, a transposed (non-contiguous) input, and a tensor with gradients
        // (candle's own op, differentiable).
        let far = Tensor::new(&[-30f32, -9.0, 9.0, 30.0], &dev).unwrap();
        let got = gelu_erf(&far).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got, vec![0.0, 0.0, 9.0, 30.0]);
        let m = Tensor::randn(0f32, 2.0, (3, 5), &dev).unwrap().t().unwrap();
        let diff = crate::models::tests::max_diff(&gelu_erf(&m).unwrap(), &m.gelu_erf().unwrap());
        assert!(diff < 1e-6);
        let v = Var::new(&[0.5f32, -1.0], &dev).unwrap();
        let g = gelu_erf(v.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(v.as_tensor()).is_some());
    }

    #[test]
    fn activations_table() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[-1f32, 0.0, 1.0], &dev).unwrap();
        // Reference values: torch.nn.functional.gelu (exact and tanh), and x * sigmoid(1.702 x).
        let cases = [
            (Activation::GeluErf, [-0.158_655_25f32, 0.0, 0.841_344_7]),
            (Activation::GeluTanh, [-0.158_808, 0.0, 0.841_192]),
            (Activation::QuickGelu, [-0.154_204_25, 0.0, 0.845_795_75]),
            (Activation::Relu, [0.0, 0.0, 1.0]),
        ];
        for (act, want) in cases {
            let got = act.forward(&x).unwrap().to_vec1::<f32>().unwrap();
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-5, "{act:?}: {got:?}");
            }
        }
        assert_eq!(Activation::from_hf("gelu_new"), Some(Activation::GeluTanh));
        assert_eq!(Activation::from_hf("swish"), None);
    }
}
