#![no_main]
//! APOLO npy mask reader: errors, never panics or huge allocations; parsed masks
//! round-trip through npy and COCO RLE.
use artemo_engine::annotations::{mask::Mask, rle};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Mask::from_npy_bytes(data, Path::new("fuzz.npy")) {
        let bytes = m.to_npy_bytes().expect("encode");
        assert_eq!(Mask::from_npy_bytes(&bytes, Path::new("re.npy")).expect("re-read"), m);
        assert_eq!(rle::decode(&rle::encode(&m)).expect("rle"), m);
    }
});
