//! COCO run-length encoding, as `pycocotools.mask` writes it: runs over the mask in
//! column-major (Fortran) order starting with a run of zeros, and the compressed string
//! form (LEB128-like 5-bit groups offset by 48, each count after the second stored as the
//! difference from the count two before).
//!
//! Written here rather than taken from a crate: no maintained crate implements the
//! compressed string form, and the whole codec is ~80 lines, checked against strings
//! produced by pycocotools.

use serde::{Deserialize, Serialize};

use super::mask::Mask;
use crate::error::{Error, Result};

/// A COCO RLE object (`{"size": [h, w], "counts": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CocoRle {
    /// `[height, width]`.
    pub size: [usize; 2],
    /// The compressed counts string.
    pub counts: String,
}

/// Run lengths of a mask in column-major order, starting with zeros.
pub fn counts(mask: &Mask) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cur = 0u8;
    let mut run = 0u64;
    for x in 0..mask.width {
        for y in 0..mask.height {
            let v = mask.get(x, y) as u8;
            if v != cur {
                out.push(run);
                run = 0;
                cur = v;
            }
            run += 1;
        }
    }
    out.push(run);
    out
}

/// The compressed string of run lengths (pycocotools `rleToString`).
pub fn counts_to_string(cnts: &[u64]) -> String {
    let mut s = String::new();
    for i in 0..cnts.len() {
        let mut x = cnts[i] as i64;
        if i > 2 {
            x -= cnts[i - 2] as i64;
        }
        let mut more = true;
        while more {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
        }
    }
    s
}

/// Parses a compressed string (pycocotools `rleFrString`). Characters outside the code
/// range, negative counts and overlong groups are errors naming the character offset.
pub fn counts_from_string(s: &str) -> Result<Vec<u64>> {
    let bytes = s.as_bytes();
    let mut cnts: Vec<u64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let mut x: i64 = 0;
        let mut k = 0u32;
        let mut more = true;
        let start = p;
        while more {
            let Some(&b) = bytes.get(p) else {
                return Err(Error::Invalid(format!(
                    "RLE string ends inside the count starting at offset {start}"
                )));
            };
            if !(48..48 + 64).contains(&b) {
                return Err(Error::Invalid(format!(
                    "RLE string: invalid character {:?} at offset {p}",
                    b as char
                )));
            }
            if k >= 12 {
                return Err(Error::Invalid(format!(
                    "RLE string: count at offset {start} is too long"
                )));
            }
            let c = (b - 48) as i64;
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && (c & 0x10) != 0 {
                x |= -1i64 << (5 * k);
            }
        }
        let m = cnts.len();
        if m > 2 {
            x = x
                .checked_add(cnts[m - 2] as i64)
                .ok_or_else(|| Error::Invalid("RLE count overflows".into()))?;
        }
        if x < 0 {
            return Err(Error::Invalid(format!(
                "RLE string: negative count at offset {start}"
            )));
        }
        cnts.push(x as u64);
    }
    Ok(cnts)
}

/// Encodes a mask.
pub fn encode(mask: &Mask) -> CocoRle {
    CocoRle {
        size: [mask.height, mask.width],
        counts: counts_to_string(&counts(mask)),
    }
}

/// Decodes an RLE into a mask; counts that do not add up to `h * w` are an error.
pub fn decode(rle: &CocoRle) -> Result<Mask> {
    let [h, w] = rle.size;
    if h > crate::imaging::MAX_SIDE as usize || w > crate::imaging::MAX_SIDE as usize {
        return Err(Error::Invalid(format!(
            "RLE size {h}x{w} exceeds {} px",
            crate::imaging::MAX_SIDE
        )));
    }
    let cnts = counts_from_string(&rle.counts)?;
    let total: u128 = cnts.iter().map(|&c| c as u128).sum();
    if total != (h * w) as u128 {
        return Err(Error::Invalid(format!(
            "RLE counts sum to {total}, but the size {h}x{w} has {} pixels",
            h * w
        )));
    }
    let mut m = Mask::new(w, h);
    let mut idx = 0usize;
    for (i, &c) in cnts.iter().enumerate() {
        if i % 2 == 1 {
            for j in idx..idx + c as usize {
                let (x, y) = (j / h, j % h);
                m.set(x, y, true);
            }
        }
        idx += c as usize;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(w: usize, h: usize, on: &[(usize, usize)]) -> Mask {
        let mut m = Mask::new(w, h);
        for &(x, y) in on {
            m.set(x, y, true);
        }
        m
    }

    #[test]
    fn golden_strings_from_pycocotools() {
        // Expected strings computed with pycocotools 2.0.11 `mask.encode` on the same arrays
        // (see tools/golden/rle_golden.py).
        let cases: Vec<(Mask, &str)> = vec![
            (mask(2, 2, &[]), "4"),
            (mask(2, 2, &[(0, 0), (1, 0), (0, 1), (1, 1)]), "04"),
            (mask(3, 2, &[(1, 0), (1, 1)]), "222"),
            (mask(4, 3, &[(0, 0), (3, 2)]), "01:0"),
            (
                {
                    let mut m = Mask::new(60, 40);
                    for x in 10..50 {
                        for y in 5..35 {
                            m.set(x, y, true);
                        }
                    }
                    m
                },
                "e<n0:00000000000000000000000000000000000000000000000000000000000000000000000000000[<",
            ),
        ];
        for (m, want) in cases {
            let r = encode(&m);
            assert_eq!(r.counts, want, "{}x{}", m.width, m.height);
            assert_eq!(decode(&r).unwrap(), m);
        }
    }

    #[test]
    fn round_trips_random_masks() {
        let mut state = 12345u64;
        for n in 0..50 {
            let (w, h) = (1 + n % 13, 1 + (n * 7) % 11);
            let mut m = Mask::new(w, h);
            for i in 0..w * h {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                m.data[i] = (state >> 33).is_multiple_of(3) as u8;
            }
            assert_eq!(decode(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn malformed_strings_are_errors() {
        let cases = [
            (
                CocoRle {
                    size: [2, 2],
                    counts: "5".into(),
                },
                "sum to 5",
            ),
            (
                CocoRle {
                    size: [2, 2],
                    counts: "0 4".into(),
                },
                "invalid character",
            ),
            (
                CocoRle {
                    size: [2, 2],
                    counts: "0h".into(),
                },
                "ends inside",
            ),
            (
                CocoRle {
                    size: [2, 2],
                    counts: "@".into(),
                },
                "negative",
            ),
            (
                CocoRle {
                    size: [99999, 2],
                    counts: "0".into(),
                },
                "exceeds",
            ),
            (
                CocoRle {
                    size: [2, 2],
                    counts: "hhhhhhhhhhhhhh0".into(),
                },
                "too long",
            ),
        ];
        for (r, want) in cases {
            let e = decode(&r).unwrap_err().to_string();
            assert!(e.contains(want), "{:?}: {e}", r.counts);
        }
    }
}
