#!/usr/bin/env python3
"""Rewrites the demo-kit entries (demo-*) of models/MODELS.toml from the files in
models/demo/ (sha256 and sizes), after `artemo train --preset demo` has written them.
Usage: python3 tools/demo/manifest.py [models/]"""
import hashlib
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../models")
LICENCE = "MIT OR Apache-2.0 (trained by the Artemo project from shipped assets)"
SOURCE = "artemo train --preset demo (this repository), seed 2026"
ENTRIES = [
    ("demo-pacl", "Demo kit: PACL patch tower + projections trained here on the shipped assets (see demo/MODEL_CARD.md)",
     ["demo/pacl/config.json", "demo/pacl/model.safetensors", "demo/pacl/report.json"],
     ["PACL embeddings", "embedding map", "zero-shot", "free-text search", "demo image features"]),
    ("demo-sevlm", "Demo kit: small SEVLM (compact vocabulary) over the frozen demo patch tower, trained here (see demo/MODEL_CARD.md)",
     ["demo/sevlm/config.json", "demo/sevlm/model.safetensors", "demo/sevlm/train_log.json"],
     ["emotion distribution", "generated explanation", "VAD per token"]),
    ("demo-emosem", "Demo kit: small EmoSEM Multi-Masks over the frozen demo patch tower, trained here on Artemo's stimulus masks (see demo/MODEL_CARD.md)",
     ["demo/emosem/config.json", "demo/emosem/model.safetensors", "demo/emosem/train_log.json"],
     ["eight emotion masks", "per-mask explanations", "dominant-emotion map"]),
    ("demo-card", "Demo kit: model card, evaluation summary and training log of the full preset",
     ["demo/MODEL_CARD.md", "demo/eval/summary.json", "demo/train.log"],
     ["the demo badge's model card"]),
]

path = os.path.join(root, "MODELS.toml")
text = open(path).read()
# Drop existing demo entries (each starts at a [[model]] header).
blocks = re.split(r"(?m)^(?=\[\[model\]\]\s*$)", text)
kept = [b for b in blocks if not re.search(r'(?m)^name = "demo-', b)]
out = "".join(kept).rstrip() + "\n"
for name, desc, files, enables in ENTRIES:
    present = [f for f in files if os.path.isfile(os.path.join(root, f))]
    if not present:
        continue
    out += f'\n[[model]]\nname = "{name}"\ndescription = "{desc}"\nlicence = "{LICENCE}"\nsource = "{SOURCE}"\n'
    out += "enables = [" + ", ".join(f'"{e}"' for e in enables) + "]\n"
    for f in present:
        b = open(os.path.join(root, f), "rb").read()
        out += f'\n[[model.files]]\npath = "{f}"\nsha256 = "{hashlib.sha256(b).hexdigest()}"\nbytes = {len(b)}\n'
tmp = path + ".tmp"
open(tmp, "w").write(out)
os.replace(tmp, path)
print(f"wrote {path}")
