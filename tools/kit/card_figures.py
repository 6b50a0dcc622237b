"""Figures for the demo kit's model card: per named test painting, its thumbnail beside
EmoSEM's masks for every emotion (thresholded as the evaluation does: min-max normalised
score map > 0.35, APOLO's rule), written to models/demo/card/<painting>.jpg.

Needs numpy and Pillow. Usage:
  python3 tools/kit/card_figures.py KIT_DIR PAINTING [PAINTING ...]
KIT_DIR is the trained kit (e.g. models/demo); the score maps are KIT_DIR/eval/emosem/emosem/npy.
"""
import os, sys

import numpy as np
from PIL import Image, ImageDraw

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
EMOTIONS = ['amusement', 'awe', 'contentment', 'excitement', 'anger', 'disgust', 'fear', 'sadness']
H = 150  # thumbnail height
SMALL = 72  # mask tile height


def overlay(img, score):
    s = (score - score.min()) / max(float(score.max() - score.min()), 1e-8)
    m = Image.fromarray(((s > 0.35) * 255).astype(np.uint8)).resize(img.size, Image.BILINEAR)
    m = np.asarray(m, dtype=np.float32)[..., None] / 255.0
    a = np.asarray(img, dtype=np.float32)
    tint = np.array([255, 200, 0], dtype=np.float32)
    out = a * (0.35 + 0.65 * m) + tint * 0.25 * m
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def figure(kit, painting):
    img = Image.open(os.path.join(ROOT, 'assets', 'paintings', 'aic', f'{painting}.jpg')).convert('RGB')
    thumb = img.resize((max(1, round(img.width * H / img.height)), H), Image.LANCZOS)
    small = img.resize((max(1, round(img.width * SMALL / img.height)), SMALL), Image.LANCZOS)
    tiles = []
    for e in EMOTIONS:
        p = os.path.join(kit, 'eval', 'emosem', 'emosem', 'npy', f'{painting}_{e}.npy')
        tiles.append((e, overlay(small, np.load(p))))
    cols = 4
    tw = max(small.width, 86)
    grid_w = cols * (tw + 4)
    out = Image.new('RGB', (thumb.width + 8 + grid_w, H + 2 * 12), 'white')
    out.paste(thumb, (0, 12))
    d = ImageDraw.Draw(out)
    for i, (e, t) in enumerate(tiles):
        x = thumb.width + 8 + (i % cols) * (tw + 4)
        y = (i // cols) * (SMALL + 12)
        d.text((x, y), e, fill='black')
        out.paste(t, (x, y + 11))
    dest = os.path.join(kit, 'card')
    os.makedirs(dest, exist_ok=True)
    out.save(os.path.join(dest, f'{painting}.jpg'), quality=80)


if __name__ == '__main__':
    kit = sys.argv[1]
    for p in sys.argv[2:]:
        figure(kit, p)
        print('wrote', os.path.join(kit, 'card', f'{p}.jpg'))
