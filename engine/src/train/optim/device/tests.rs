//! Tests of AdamW's device path: the same weights as the host pass (forced onto the device
//! path on the CPU; on the GPU with `ARTEMO_TEST_DEVICE=cuda`), one counted scalar read per
//! step whatever the model's size, no host transfer in the path's source, skipped
//! non-finite steps, mixed devices refused.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use crate::train::optim::{AdamW, AdamWParams, HostReads, Schedule, StepReport};

/// A small two-layer regression with an extra variable that gets no gradient; its
/// variables are seeded, so two calls build the same model on any device.
struct Model {
    w1: Var,
    b1: Var,
    w2: Var,
    frozen: Var,
    x: Tensor,
    y: Tensor,
}

fn seeded(rng: &mut rand_chacha::ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| rng.gen_range(-1.0f32..1.0) * scale)
        .collect()
}

impl Model {
    fn new(dev: &Device, hidden: usize) -> Model {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let var = |rng: &mut rand_chacha::ChaCha8Rng, dims: &[usize], scale: f32| {
            let n = dims.iter().product();
            Var::from_tensor(&Tensor::from_vec(seeded(rng, n, scale), dims, dev).unwrap()).unwrap()
        };
        let w1 = var(&mut rng, &[5, hidden], 0.5);
        let b1 = var(&mut rng, &[hidden], 0.1);
        let w2 = var(&mut rng, &[hidden, 3], 0.5);
        let frozen = var(&mut rng, &[4], 1.0);
        let x = Tensor::from_vec(seeded(&mut rng, 40, 2.0), (8, 5), dev).unwrap();
        let y = Tensor::from_vec(seeded(&mut rng, 24, 3.0), (8, 3), dev).unwrap();
        Model {
            w1,
            b1,
            w2,
            frozen,
            x,
            y,
        }
    }

    fn loss(&self) -> Tensor {
        let h = self
            .x
            .matmul(self.w1.as_tensor())
            .unwrap()
            .broadcast_add(self.b1.as_tensor())
            .unwrap()
            .tanh()
            .unwrap();
        let out = h.matmul(self.w2.as_tensor()).unwrap();
        (out - &self.y).unwrap().sqr().unwrap().mean_all().unwrap()
    }

    fn vars(&self) -> [&Var; 4] {
        [&self.w1, &self.b1, &self.w2, &self.frozen]
    }

    /// Two groups with different hyper-parameters, clipping at 0.5, linear warm-up and decay.
    fn optimizer(&self, device_path: bool) -> AdamW {
        let mut opt = AdamW::new(Schedule::Linear {
            warmup: 2,
            total: 10,
        })
        .with_clip(0.5);
        if device_path {
            opt = opt.force_device_path();
        }
        opt.add_group(
            vec![self.w1.clone(), self.b1.clone(), self.frozen.clone()],
            AdamWParams {
                lr: 0.05,
                weight_decay: 0.01,
                ..Default::default()
            },
        )
        .unwrap();
        opt.add_group(
            vec![self.w2.clone()],
            AdamWParams {
                lr: 0.02,
                beta1: 0.8,
                beta2: 0.99,
                eps: 1e-6,
                weight_decay: 0.1,
            },
        )
        .unwrap();
        opt
    }
}

fn host(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Reference: the host pass of `optim.rs` (`host_update`, PyTorch's AdamW arithmetic, checked
/// by hand in `optim.rs`'s `matches_pytorch_adamw_by_hand`). On the CPU the device path is
/// forced and must agree within 1e-6; on CUDA (`ARTEMO_TEST_DEVICE=cuda`) within 1e-5, the
/// matrix products and reductions of the loss summing in another order.
#[test]
fn device_path_gives_the_host_path_weights() {
    let dev = crate::device::test_device().unwrap();
    let tol = if dev.is_cpu() { 1e-6 } else { 1e-5 };
    let reference = Model::new(&Device::Cpu, 6);
    let tested = Model::new(&dev, 6);
    let mut ref_opt = reference.optimizer(false);
    let mut opt = tested.optimizer(true);
    let mut clipped = 0;
    for step in 0..8 {
        let r: StepReport = ref_opt.backward_step(&reference.loss()).unwrap();
        let d: StepReport = opt.backward_step(&tested.loss()).unwrap();
        assert!(
            (r.grad_norm - d.grad_norm).abs() <= 1e-5 * r.grad_norm.max(1.0),
            "step {step}: gradient norm {} vs {}",
            r.grad_norm,
            d.grad_norm
        );
        assert_eq!(r.lr_factor, d.lr_factor);
        assert_eq!((r.without_gradient, d.without_gradient), (1, 1));
        assert!(!r.skipped && !d.skipped);
        if r.grad_norm > 0.5 {
            clipped += 1;
        }
        for (a, b) in reference.vars().iter().zip(tested.vars()) {
            let (a, b) = (host(a.as_tensor()), host(b.as_tensor()));
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff <= tol, "step {step}: weights differ by {diff}");
        }
    }
    assert!(clipped > 0, "the test should exercise clipping");
    assert_eq!(opt.steps(), 8);
    assert_eq!(ref_opt.host_reads(), HostReads::default());
    // The update moved the weights (a path that did nothing would also "agree").
    let start = Model::new(&Device::Cpu, 6);
    assert_ne!(host(start.w1.as_tensor()), host(tested.w1.as_tensor()));
    assert_eq!(
        host(start.frozen.as_tensor()),
        host(tested.frozen.as_tensor())
    );
}

/// The structural check, part 1: the device path reads exactly one f64 per step (the
/// gradient norm's partial sum of the one device), for a model of 58 parameters and one of
/// 135,004 alike: no weight, gradient or moment is read back.
#[test]
fn device_path_reads_one_scalar_per_step_whatever_the_size() {
    let dev = crate::device::test_device().unwrap();
    for hidden in [6, 15_000] {
        let m = Model::new(&dev, hidden);
        let mut opt = m.optimizer(true);
        for _ in 0..3 {
            opt.backward_step(&m.loss()).unwrap();
        }
        assert_eq!(
            opt.host_reads(),
            HostReads {
                reads: 3,
                bytes: 3 * 8
            },
            "hidden {hidden}"
        );
    }
}

/// The structural check, part 2: the device path's source (between its markers in
/// `device.rs`) contains no host transfer, so nothing bypasses the counted read above.
#[test]
fn device_path_source_has_no_host_transfer() {
    let src = include_str!("../device.rs");
    let begin = src.find("// device path: begin").unwrap();
    let end = src.find("// device path: end").unwrap();
    let path = &src[begin..end];
    assert!(path.contains("fn update") && path.contains("fn gather") && path.contains("fn zeros"));
    for host_transfer in [
        "to_vec",
        "to_scalar",
        "to_device",
        "Device::Cpu",
        "from_vec",
        "from_slice",
        "from_raw_buffer",
        "Tensor::new",
        "read_f64",
        "as_slice",
        "storage_and_layout",
    ] {
        assert!(
            !path.contains(host_transfer),
            "the device path mentions `{host_transfer}`"
        );
    }
    // And the step itself sends a device variable's gradient only through the path.
    let optim = include_str!("../../optim.rs");
    let step =
        &optim[optim.find("pub fn step_with").unwrap()..optim.find("fn host_update").unwrap()];
    let device_branch = &step[step.find("Moments::Device(_) =>").unwrap()..];
    let device_branch = &device_branch[..device_branch.find('}').unwrap()];
    assert!(device_branch.contains("device::gather"));
    assert!(!device_branch.contains("to_vec"), "{device_branch}");
}

/// A non-finite gradient on the device path skips the step: weights, moments and the step
/// counter stay as they were.
#[test]
fn device_path_skips_non_finite_steps() {
    let dev = crate::device::test_device().unwrap();
    let w = Var::from_vec(vec![0f32, 1.0], 2, &dev).unwrap();
    let mut opt = AdamW::new(Schedule::Constant)
        .with_skip_nonfinite()
        .force_device_path();
    opt.add_group(vec![w.clone()], AdamWParams::default())
        .unwrap();
    let r = opt
        .backward_step(&w.as_tensor().sqrt().unwrap().sum_all().unwrap())
        .unwrap();
    assert!(r.skipped && !r.grad_norm.is_finite());
    assert_eq!(opt.steps(), 0);
    assert_eq!(host(w.as_tensor()), vec![0.0, 1.0]);
    // Then a finite step moves both weights, from zero moments.
    let r = opt
        .backward_step(&w.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap();
    assert!(!r.skipped);
    assert_eq!(opt.steps(), 1);
    assert!(host(w.as_tensor())[1] < 1.0);
}

/// f32 variables only, as on the host path.
#[test]
fn device_path_refuses_other_dtypes() {
    let w = Var::zeros(3, DType::F64, &Device::Cpu).unwrap();
    let mut opt = AdamW::new(Schedule::Constant).force_device_path();
    assert!(opt.add_group(vec![w], AdamWParams::default()).is_err());
}

/// A gradient on another device than its variable is refused, naming both devices and the
/// variable (needs a GPU: a CPU variable given a CUDA gradient).
#[test]
fn mixed_devices_are_refused_naming_both() {
    let Some(gpu) = crate::device::gpu_for_tests("mixed_devices_are_refused_naming_both") else {
        return;
    };
    let w = Var::from_vec(vec![1f32, 2.0], 2, &Device::Cpu).unwrap();
    let mut grads = w
        .as_tensor()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.remove(w.as_tensor()).unwrap();
    grads.insert(w.as_tensor(), g.to_device(&gpu).unwrap());
    for device_path in [false, true] {
        let mut opt = AdamW::new(Schedule::Constant);
        if device_path {
            opt = opt.force_device_path();
        }
        opt.add_group(vec![w.clone()], AdamWParams::default())
            .unwrap();
        let e = opt.step_with(&grads).unwrap_err().to_string();
        assert!(
            e.contains("CUDA GPU 0")
                && e.contains("CPU")
                && e.contains("variable 0 of AdamW group 0"),
            "{e}"
        );
    }
}
