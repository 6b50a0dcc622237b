"""Merges the annotation batches (written by hand, painting by painting, in
assets/annotations/work/responses_K.csv and stimuli_K.json, polygon points normalised to
0..1) into the shipped files:

- assets/annotations/artemo-aic.csv  (ArtEmis layout, rows in paintings.csv order)
- assets/annotations/stimuli.json    (polygons in pixel coordinates of the shipped JPEGs)

Run once after annotating: python3 tools/annotations/merge_batches.py
Then: cargo run -- annotations split && cargo run -- annotations check
"""
import csv
import glob
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
A = os.path.join(ROOT, "assets", "annotations")
paintings = list(csv.DictReader(open(os.path.join(ROOT, "assets/paintings/aic/paintings.csv"), encoding="utf-8")))
order = {p["file"].rsplit(".", 1)[0]: i for i, p in enumerate(paintings)}
size = {p["file"].rsplit(".", 1)[0]: (int(p["width"]), int(p["height"])) for p in paintings}

rows = []
for f in sorted(glob.glob(os.path.join(A, "work", "responses_*.csv"))):
    rows += list(csv.DictReader(open(f, encoding="utf-8")))
rows.sort(key=lambda r: order[r["painting"]])  # stable: keeps each painting's response order
with open(os.path.join(A, "artemo-aic.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["art_style", "painting", "emotion", "utterance", "repetition"])
    for r in rows:
        w.writerow([r["art_style"], r["painting"], r["emotion"], " ".join(r["utterance"].split()), r["repetition"]])

stimuli = []
for f in sorted(glob.glob(os.path.join(A, "work", "stimuli_*.json"))):
    for s in json.load(open(f, encoding="utf-8")):
        w_, h_ = size[s["painting"]]
        polys = [[[round(min(max(x, 0.0), 1.0) * w_, 1), round(min(max(y, 0.0), 1.0) * h_, 1)] for x, y in poly] for poly in s["polygons"]]
        stimuli.append({"painting": s["painting"], "emotion": s["emotion"], "utterance": " ".join(s["utterance"].split()), "polygons": polys})
stimuli.sort(key=lambda s: (order[s["painting"]], s["emotion"]))
with open(os.path.join(A, "stimuli.json"), "w", encoding="utf-8") as f:
    json.dump(stimuli, f, indent=1, ensure_ascii=False)
print(f"{len(rows)} responses on {len({r['painting'] for r in rows})} paintings; {len(stimuli)} stimulus regions")
