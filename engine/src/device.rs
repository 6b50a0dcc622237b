//! Compute device selection: CPU by default; with the `cuda` cargo feature, GPU 0 when it
//! can be opened, else the CPU with a message saying why.

use candle_core::{Device, DeviceLocation, Tensor};

use crate::error::{Error, Result};

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevicePreference {
    /// Always the CPU.
    #[default]
    Cpu,
    /// GPU 0 if this build has CUDA and a GPU answers; the CPU otherwise.
    Gpu,
}

/// The device chosen, with a human note when the choice differs from the request.
#[derive(Debug, Clone)]
pub struct DeviceChoice {
    /// The device to compute on.
    pub device: Device,
    /// A readable name ("CPU", "CUDA GPU 0").
    pub name: String,
    /// Why the preference could not be honoured, if it could not.
    pub fallback: Option<String>,
}

impl DeviceChoice {
    /// Whether the choice is the CPU.
    pub fn is_cpu(&self) -> bool {
        self.device.is_cpu()
    }
}

/// Picks the device for a preference.
pub fn select_device(pref: DevicePreference) -> DeviceChoice {
    let cpu = |fallback: Option<String>| DeviceChoice {
        device: Device::Cpu,
        name: "CPU".into(),
        fallback,
    };
    match pref {
        DevicePreference::Cpu => cpu(None),
        DevicePreference::Gpu => {
            if !cfg!(feature = "cuda") {
                return cpu(Some(
                    "GPU requested, but this build has no CUDA support (rebuild with `--features cuda`); using the CPU".into(),
                ));
            }
            match Device::new_cuda(0) {
                Ok(d) => DeviceChoice {
                    name: describe(&d),
                    device: d,
                    fallback: None,
                },
                Err(e) => cpu(Some(format!(
                    "GPU 0 could not be opened ({e}); using the CPU"
                ))),
            }
        }
    }
}

/// A readable name of a device: "CPU", "CUDA GPU 0", "Metal GPU 0".
pub fn describe(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "CPU".into(),
        DeviceLocation::Cuda { gpu_id } => format!("CUDA GPU {gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("Metal GPU {gpu_id}"),
    }
}

/// Refuses `tensor` unless it is on `expected`: the clear error of mixed devices, naming
/// both devices and what the tensor is (`what`, e.g. "the gradient of variable 3 of group 0").
pub fn ensure_same_device(expected: &Device, tensor: &Tensor, what: &str) -> Result<()> {
    ensure_devices_match(expected, tensor.device(), what)
}

/// Refuses `got` unless it is `expected` (see [`ensure_same_device`]).
pub fn ensure_devices_match(expected: &Device, got: &Device, what: &str) -> Result<()> {
    if got.same_device(expected) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{what} is on {} but must be on {} (mixed devices: move the model and its inputs to one device)",
        describe(got),
        describe(expected)
    )))
}

/// The environment variable that picks the device of the tests that honour it
/// (`ARTEMO_TEST_DEVICE=cuda`, set by `tools/cuda/gpu-check.sh`; unset or `cpu`: the CPU).
pub const TEST_DEVICE_VAR: &str = "ARTEMO_TEST_DEVICE";

/// The device of the tests that honour [`TEST_DEVICE_VAR`]: the CPU, or CUDA GPU 0 when the
/// variable says `cuda`. Asking for CUDA where GPU 0 cannot be opened (no `cuda` feature, no
/// GPU) is an error, never a silent run on the CPU.
pub fn test_device() -> Result<Device> {
    match std::env::var(TEST_DEVICE_VAR).ok().as_deref() {
        None | Some("") | Some("cpu") => Ok(Device::Cpu),
        Some("cuda") => {
            if !cfg!(feature = "cuda") {
                return Err(Error::Invalid(format!(
                    "{TEST_DEVICE_VAR}=cuda, but this build has no CUDA support (test with `--features cuda`)"
                )));
            }
            Device::new_cuda(0).map_err(|e| {
                Error::Invalid(format!(
                    "{TEST_DEVICE_VAR}=cuda, but CUDA GPU 0 could not be opened: {e}"
                ))
            })
        }
        Some(other) => Err(Error::Invalid(format!(
            "{TEST_DEVICE_VAR}={other}: expected `cpu` or `cuda`"
        ))),
    }
}

/// How much looser a parity tolerance is on the test device: 1 on the CPU and on CUDA with
/// full-precision f32 matrix products (candle's default, which the GPU check keeps); 20 when
/// f32 products may use TF32 (`candle_core::cuda::gemm_reduced_precision_f32`), whose
/// 10-bit mantissa leaves errors around 1e-3 relative.
pub fn tolerance_factor(device: &Device) -> f32 {
    if device.is_cuda() && candle_core::cuda::gemm_reduced_precision_f32() {
        20.0
    } else {
        1.0
    }
}

/// CUDA GPU 0 for a test that needs a GPU, or `None` with the reason printed on stderr
/// (the test then returns early: skipped, with its reason in the test output).
pub fn gpu_for_tests(test: &str) -> Option<Device> {
    if !cfg!(feature = "cuda") {
        eprintln!("skipped {test}: this build has no CUDA support (needs `--features cuda` and a GPU; tools/cuda/gpu-check.sh)");
        return None;
    }
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped {test}: no GPU ({e})");
            None
        }
    }
}

/// Default compute threads: all cores but one, which is left to the UI (at least one).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).max(1))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_default_and_gpu_falls_back_with_a_message() {
        let c = select_device(DevicePreference::default());
        assert!(c.device.is_cpu() && c.fallback.is_none());
        let g = select_device(DevicePreference::Gpu);
        if g.device.is_cpu() {
            assert!(g.fallback.unwrap().contains("CPU"));
        }
        assert!(default_threads() >= 1);
    }

    #[test]
    fn without_cuda_the_gpu_fallback_names_the_feature() {
        if cfg!(feature = "cuda") {
            eprintln!("skipped: this build has the cuda feature");
            return;
        }
        let g = select_device(DevicePreference::Gpu);
        assert!(g.is_cpu() && g.name == "CPU");
        let why = g.fallback.unwrap();
        assert!(
            why.contains("--features cuda") && why.contains("using the CPU"),
            "{why}"
        );
    }

    #[test]
    fn devices_are_named_and_same_device_passes() {
        assert_eq!(describe(&Device::Cpu), "CPU");
        let t = Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu).unwrap();
        ensure_same_device(&Device::Cpu, &t, "a tensor").unwrap();
        // The test device is the CPU unless ARTEMO_TEST_DEVICE asks for CUDA.
        let want_cuda = std::env::var(TEST_DEVICE_VAR).is_ok_and(|v| v == "cuda");
        assert_eq!(test_device().unwrap().is_cuda(), want_cuda);
        assert_eq!(tolerance_factor(&Device::Cpu), 1.0);
    }
}
