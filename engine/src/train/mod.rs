//! Training shared by the models: the fused AdamW, schedules, variable groups and
//! checkpoint saving, and the one training session ([`session::run_session`]) that
//! trains any [`Trainable`] with typed events ([`TrainEvent`]) and metric keys
//! ([`Metric`]).

pub mod control;
pub mod events;
pub mod metric;
pub mod optim;
pub mod session;
pub mod store;
pub mod trainable;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};
use candle_nn::VarMap;

use crate::error::Result;

pub use events::TrainEvent;
pub use metric::{BestBy, Metric};
pub use optim::{AdamW, AdamWParams, Schedule, StepReport};
pub use trainable::{DataSource, ModelSetup, SessionData, SessionParts, Trainable};

/// The variables of `vm` whose names start with one of `prefixes` (sorted by name, so
/// that optimizer state is deterministic).
pub fn vars_with_prefix(vm: &VarMap, prefixes: &[&str]) -> Vec<Var> {
    let data = vm.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut named: Vec<(&String, &Var)> = data
        .iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// The variables of `vm` whose names start with none of `prefixes` (sorted by name).
pub fn vars_without_prefix(vm: &VarMap, prefixes: &[&str]) -> Vec<Var> {
    let data = vm.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut named: Vec<(&String, &Var)> = data
        .iter()
        .filter(|(k, _)| !prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// Number of scalar parameters in `vars`.
pub fn count_params(vars: &[Var]) -> usize {
    vars.iter().map(|v| v.elem_count()).sum()
}

/// Copies a checkpoint's weights `w` (read from `file`) into every variable of `vm`; a
/// variable the file lacks is an error naming it: not a checkpoint of this configuration.
pub fn fill_from_checkpoint(
    w: &crate::models::loading::Weights,
    vm: &VarMap,
    file: &Path,
) -> Result<()> {
    let report = w.load_into(vm)?;
    if let Some(m) = report.missing.first() {
        return Err(crate::error::Error::at(
            file,
            format!("tensor `{m}`"),
            format!(
                "missing ({} of {} variables absent): not a checkpoint of this configuration",
                report.missing.len(),
                report.missing.len() + report.loaded.len()
            ),
        ));
    }
    Ok(())
}

/// Writes every variable of `vm` to a safetensors file (atomically).
pub fn save_varmap(vm: &VarMap, path: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = {
        let data = vm.data().lock().unwrap_or_else(|e| e.into_inner());
        data.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    };
    crate::models::loading::save_safetensors(path, &tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    #[test]
    fn groups_by_prefix_are_sorted_and_disjoint() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        vb.pp("dec").get(3, "b").unwrap();
        vb.pp("dec").get(2, "a").unwrap();
        vb.pp("vad").get(4, "w").unwrap();
        let dec = vars_with_prefix(&vm, &["dec."]);
        let rest = vars_without_prefix(&vm, &["dec."]);
        assert_eq!(
            dec.iter().map(|v| v.elem_count()).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(count_params(&rest), 4);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        save_varmap(&vm, &p).unwrap();
        assert!(p.exists());
    }
}
