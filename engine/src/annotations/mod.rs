//! Annotations in the field's formats: ArtEmis CSV, APOLO stimulus maps, and masks as PNG,
//! npy and COCO RLE.

pub mod apolo;
pub mod artemis;
pub mod dataset;
pub mod mask;
pub mod review;
pub mod rle;
pub mod stimuli;

pub use apolo::{ApoloRecord, ApoloSet};
pub use artemis::{Annotation, ArtworkKey, Dominance, Histogram, Split};
pub use mask::{LabelMap, Mask};
