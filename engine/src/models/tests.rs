//! Helpers shared by the model tests: fixture paths, output comparison, and the check
//! that every trainable variable received a gradient.

use std::path::{Path, PathBuf};

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;

/// `tests/fixtures/parity/<model>`.
pub fn parity_dir(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/parity")
        .join(model)
}

/// The device of the parity tests: `ARTEMO_TEST_DEVICE` (`cuda` from
/// `tools/cuda/gpu-check.sh`), the CPU by default.
pub fn device() -> Device {
    crate::device::test_device().unwrap()
}

/// A parity tolerance on [`device`]: `cpu` itself on the CPU and on CUDA with full-precision
/// f32 products (candle's default); 20 times `cpu` where TF32 products are enabled.
pub fn tolerance(cpu: f32) -> f32 {
    cpu * crate::device::tolerance_factor(&device())
}

/// Largest absolute difference between two tensors of the same shape (`b` is brought to
/// `a`'s device: a GPU output against a reference loaded on the host).
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let b = &b.to_device(a.device()).unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Panics unless every variable of `vm` has a finite, non-zero gradient in `grads`.
pub fn assert_every_var_has_gradient(vm: &VarMap, grads: &GradStore) {
    let data = vm.data().lock().unwrap();
    assert!(!data.is_empty(), "no variables");
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let s = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(s > 0.0 && s.is_finite(), "gradient for {name}: {s}");
    }
}

/// Sum of `t` weighted by random normal values: a loss whose gradient reaches every
/// parameter even where layer norms start at 1/0 (a plain sum would give zero gradients).
pub fn random_weighted_sum(t: &Tensor) -> Tensor {
    (t * Tensor::randn(0f32, 1.0, t.dims(), t.device()).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
}
