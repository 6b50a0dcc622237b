//! A trained PACL patch tower as EmoSEM's frozen grid encoder (`pacl:<folder under
//! models/>`), the demo kit's image side.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::DynamicImage;

use super::GridEncoder;
use crate::error::Result;
use crate::models::nn::Mode;
use crate::models::patch_tower::{descriptors_tensor, image_descriptors};
use crate::pacl::PaclModel;

/// The tower-name prefix of a PACL patch tower: `pacl:<folder relative to models/>`.
pub const PACL_TOWER_PREFIX: &str = "pacl:";

/// A trained PACL patch tower used as EmoSEM's frozen grid encoder.
pub struct PaclTowerGrid {
    model: PaclModel,
    name: String,
}

impl PaclTowerGrid {
    /// Loads the PACL model in `models/<rel>`; the encoder is named `pacl:<rel>`.
    pub fn load(models: &Path, rel: &str, device: &Device) -> Result<Self> {
        Ok(PaclTowerGrid {
            model: PaclModel::load(&models.join(rel), device)?,
            name: format!("{PACL_TOWER_PREFIX}{rel}"),
        })
    }

    /// Wraps an already loaded PACL model named `pacl:<rel>`.
    pub fn from_model(model: PaclModel, rel: &str) -> Self {
        PaclTowerGrid {
            model,
            name: format!("{PACL_TOWER_PREFIX}{rel}"),
        }
    }
}

impl GridEncoder for PaclTowerGrid {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn side(&self) -> usize {
        self.model.tower().config().grid
    }

    fn dim(&self) -> usize {
        self.model.tower().config().dim
    }

    fn encode(&self, image: &DynamicImage, device: &Device) -> Result<Tensor> {
        let d = image_descriptors(image, self.model.tower().config());
        let x = descriptors_tensor(&[&d], device)?;
        Ok(self.model.tower().forward(&x, Mode::Infer)?.grid)
    }
}
