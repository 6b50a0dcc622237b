"""Prints the COCO RLE strings used as golden values in engine/src/annotations/rle.rs.

Requires: pip install numpy pycocotools==2.0.11
Masks are given as (height, width) arrays, as pycocotools expects.
"""
import numpy as np
from pycocotools import mask as M


def enc(a):
    return M.encode(np.asfortranarray(a.astype(np.uint8)))["counts"].decode()


cases = {}
cases["2x2 empty"] = np.zeros((2, 2))
cases["2x2 full"] = np.ones((2, 2))
a = np.zeros((2, 3)); a[:, 1] = 1; cases["h2 w3 middle column"] = a
a = np.zeros((3, 4)); a[0, 0] = 1; a[2, 3] = 1; cases["h3 w4 two corners"] = a
a = np.zeros((40, 60)); a[5:35, 10:50] = 1; cases["h40 w60 rectangle"] = a
for name, arr in cases.items():
    print(f"{name}: {enc(arr)!r}")
