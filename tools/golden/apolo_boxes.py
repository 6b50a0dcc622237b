"""Writes tests/fixtures/golden/apolo_boxes.json: APOLO's box-mode (and segmentation-mode)
IoU and Pr@25/Pr@50 on hand-made masks, computed the way APOLO's evaluation script does
(Tianwei3989/apolo, MIT licence, `eval_map_iou.py`), with OpenCV.

Requires: pip install opencv-python-headless numpy   (see requirements.txt)
Run:      python tools/golden/apolo_boxes.py

The reference steps, by line of `eval_map_iou.py`:
- :146       min-max normalisation of the predicted map;
- :153       `cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR)` to the label map's size;
- :162       `np.where(map > threshold, 0, -1)` with threshold 0.35 (:125);
- :164-166   box mode: `graph2heatmap(map, 0, -1)` then a nearest resize to the same size;
- :61-71     `graph2heatmap`: `cv2.connectedComponents` (default connectivity 8) and each
             component's filled bounding box from `getMask_bbox` (:39-59);
- :171       label map - 1; :174 samples with an empty label map are skipped;
- :178-180   IoU = 2 * mIoU_ over the union of the two maps (`mIoU_`, :73-81, with
             sklearn's confusion matrix, re-implemented here with numpy: labels are the
             sorted union of the values present, as `confusion_matrix(labels=None)` does);
- :182-186   Pr@25 / Pr@50 counts; :208-209 a score of 2 (perfect, one-label matrix) is
             counted as 1 in the mean.
In the released script lines 162-168 sit inside `if save_image:` (it crashes otherwise);
this script runs them unconditionally, as intended. Cases are made so that 4- and
8-connectivity give different boxes (blobs touching at a corner, diagonal lines); the JSON
also carries the 4-connectivity results (`cv2.connectedComponents(..., connectivity=4)`)
for Artemo's named `Connectivity::Four` option.
"""
import json
import os

import cv2
import numpy as np

THRESHOLD = 0.35
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "golden", "apolo_boxes.json")


def get_mask_bbox(m):
    # eval_map_iou.py:39-59
    horizontal = np.where(np.any(m, axis=0))[0]
    vertical = np.where(np.any(m, axis=1))[0]
    if horizontal.shape[0]:
        x1, x2 = horizontal[[0, -1]]
        y1, y2 = vertical[[0, -1]]
        x2 += 1
        y2 += 1
    else:
        x1, x2, y1, y2 = 0, 0, 0, 0
    return np.array([x1, y1, x2, y2])


def graph2heatmap(g, fg, bg, connectivity=None):
    # eval_map_iou.py:61-71 (connectivity None = the call as APOLO writes it: cv2's default, 8)
    _, mask = cv2.threshold((g + 1).astype(np.uint8), 0.5, 255, cv2.THRESH_BINARY)
    if connectivity is None:
        _, graph_3 = cv2.connectedComponents(mask.astype(np.uint8))
    else:
        _, graph_3 = cv2.connectedComponents(mask.astype(np.uint8), connectivity=connectivity)
    out = np.zeros(g.shape) + bg
    boxes = []
    for i in range(1, np.max(graph_3) + 1):
        b = get_mask_bbox(np.where(graph_3 == i, 1, 0))
        out[b[1]:b[3], b[0]:b[2]] = fg
        # Inclusive (x0, y0, x1, y1), Artemo's `component_boxes` convention.
        boxes.append([int(b[0]), int(b[1]), int(b[2]) - 1, int(b[3]) - 1])
    return out, sorted(boxes)


def miou(true, pred):
    # eval_map_iou.py:73-81, confusion_matrix(true, pred) in numpy
    if np.sum(pred + 1) == 0:
        return 0
    labels = np.unique(np.concatenate([true, pred]))
    index = {v: k for k, v in enumerate(labels)}
    c = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true, pred):
        c[index[t], index[p]] += 1
    inter = np.diag(c)
    union = np.sum(c, axis=0) + np.sum(c, axis=1) - inter
    return float(np.mean(inter / union))


def score(label_map_, prediction_map_):
    # eval_map_iou.py:178-180
    mask = ((label_map_ >= 0) + (prediction_map_ >= 0)) & (label_map_ < 1) & (prediction_map_ < 1)
    return miou(label_map_[mask], prediction_map_[mask]) * 2


def sample(pred, label_map, connectivity=None):
    h, w = label_map.shape
    c = (pred - np.min(pred)) / (np.max(pred) - np.min(pred))  # :146
    linear = cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR)  # :153
    near = np.abs(linear - THRESHOLD).min()
    assert near > 1e-6, f"a resized value lies {near} from the threshold"
    t = np.where(linear > THRESHOLD, 0, -1)  # :162
    boxes = []
    if np.sum(t) != 0:  # :164-166
        t_, boxes = graph2heatmap(t, 0, -1, connectivity)
        box_map = cv2.resize(t_, [w, h], interpolation=cv2.INTER_NEAREST)
    else:
        box_map = t
    label_map_ = label_map - 1  # :171
    return score(label_map_, t), score(label_map_, box_map), boxes, box_map


def rows(strings):
    return np.array([[1 if ch == "#" else 0 for ch in r] for r in strings], dtype=np.int64)


def cases():
    out = []
    # Two 3x3 blobs touching at one corner; the label is the square they span.
    p = rows(["###.....", "###.....", "###.....", "...###..", "...###..", "...###..", "........", "........"])
    g = rows(["######..", "######..", "######..", "######..", "######..", "######..", "........", "........"])
    out.append(("corner_touching_blobs", p.astype(np.float64), g))
    # The same along the anti-diagonal (neighbour at dx = -1, dy = +1).
    out.append(("anti_diagonal_blobs", p[:, ::-1].astype(np.float64), g[:, ::-1]))
    # A one-pixel diagonal line: 8 single-pixel boxes under 4, one 8x8 box under 8.
    d = np.eye(8)
    out.append(("diagonal_line", d, np.ones((8, 8), dtype=np.int64)))
    # Diagonal staircase of 2x2 steps with a small label: 8-connectivity over-covers.
    s = rows(["##......", "##......", "..##....", "..##....", "....##..", "....##..", "......##", "......##"])
    gs = rows(["##......", "##......", "..##....", "..##....", "........", "........", "........", "........"])
    out.append(("staircase_small_label", s.astype(np.float64), gs))
    # Well-separated blobs (4 and 8 agree) with a graded score map.
    sep = np.zeros((8, 10))
    sep[1:3, 1:4] = 0.9
    sep[5:7, 6:9] = 0.6
    sep[0, 9] = 0.2
    gsep = np.zeros((8, 10), dtype=np.int64)
    gsep[1:4, 1:5] = 1
    out.append(("separate_blobs", sep, gsep))
    # APOLO's own shape: a 7x7 map bilinearly upsampled to the label size, with a
    # diagonal ridge whose thresholded cells touch only at corners.
    r = np.array([
        [0.9, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0],
        [0.0, 0.8, 0.0, 0.0, 0.0, 0.2, 0.0],
        [0.1, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.1],
        [0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.9],
    ])
    gr = np.zeros((14, 14), dtype=np.int64)
    gr[0:8, 0:8] = 1
    out.append(("upsampled_7x7_ridge", r, gr))
    # An empty label map: skipped (eval_map_iou.py:174).
    out.append(("empty_label_skipped", p.astype(np.float64), np.zeros((8, 8), dtype=np.int64)))
    return out


def summary(scores):
    n = len(scores)
    return {
        "pr25": 100.0 * sum(s >= 0.25 for s in scores) / n,
        "pr50": 100.0 * sum(s >= 0.5 for s in scores) / n,
        "mean_iou": sum(1.0 if s >= 2 else s for s in scores) / n,
    }


def main():
    result = {
        "source": "tools/golden/apolo_boxes.py (APOLO eval_map_iou.py steps with OpenCV)",
        "opencv": cv2.__version__,
        "threshold": THRESHOLD,
        "cases": [],
    }
    seg_scores, box8_scores, box4_scores, skipped = [], [], [], 0
    for name, pred, gt in cases():
        case = {
            "name": name,
            "pred_width": int(pred.shape[1]),
            "pred_height": int(pred.shape[0]),
            "pred": [float(v) for v in pred.ravel()],
            "width": int(gt.shape[1]),
            "height": int(gt.shape[0]),
            "gt": [int(v) for v in gt.ravel()],
        }
        if np.sum(gt) == 0:
            case["skipped"] = True
            skipped += 1
            result["cases"].append(case)
            continue
        seg, box8, boxes8, map8 = sample(pred, gt)
        _, box4, boxes4, _ = sample(pred, gt, connectivity=4)
        case.update({
            "skipped": False,
            "seg_iou": min(seg, 1.0),
            "box_iou": min(box8, 1.0),
            "box_iou_4": min(box4, 1.0),
            "boxes": boxes8,
            "boxes_4": boxes4,
            "box_mask": [int(v >= 0) for v in map8.ravel()],
        })
        seg_scores.append(seg)
        box8_scores.append(box8)
        box4_scores.append(box4)
        result["cases"].append(case)
    result["samples"] = len(seg_scores)
    result["skipped"] = skipped
    result["seg"] = summary(seg_scores)
    result["box"] = summary(box8_scores)
    result["box_4"] = summary(box4_scores)
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(json.dumps({k: result[k] for k in ("samples", "skipped", "seg", "box", "box_4")}, indent=1))
    for c in result["cases"]:
        if not c["skipped"]:
            print(c["name"], c["seg_iou"], c["box_iou"], c["box_iou_4"])


if __name__ == "__main__":
    main()
