#![no_main]
//! VAD lexicon parsers (all five layouts): errors, never panics; lookups on parsed
//! lexicons never panic.
use artemo_engine::lexicon::{LexiconFormat, VadLexicon};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for f in [
        LexiconFormat::NrcV1,
        LexiconFormat::NrcV1Bipolar,
        LexiconFormat::NrcV2,
        LexiconFormat::ActdataEpa,
        LexiconFormat::Vader,
    ] {
        if let Ok(l) = VadLexicon::parse(text, Path::new("fuzz.txt"), f) {
            for w in text.split_whitespace().take(20) {
                let _ = l.lookup(w);
            }
        }
    }
});
