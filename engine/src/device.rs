//! Compute device selection: CPU by default; with the `cuda` cargo feature, GPU 0 when it
//! can be opened, else the CPU with a message saying why.

use candle_core::Device;

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
                    device: d,
                    name: "CUDA GPU 0".into(),
                    fallback: None,
                },
                Err(e) => cpu(Some(format!(
                    "GPU 0 could not be opened ({e}); using the CPU"
                ))),
            }
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
}
