#![no_main]
//! COCO RLE string decoder: any string and size give a mask or an error, never a panic;
//! decoded masks re-encode to a string that decodes to the same mask.
use artemo_engine::annotations::rle::{decode, encode, CocoRle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (h, w) = (data[0] as usize % 64, data[1] as usize % 64);
    let counts = String::from_utf8_lossy(&data[2..]).into_owned();
    if let Ok(m) = decode(&CocoRle { size: [h, w], counts }) {
        assert_eq!(decode(&encode(&m)).expect("re-decode"), m);
    }
});
