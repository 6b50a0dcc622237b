"""Convert a SEVLM reference release (BetterZH/SEVLM-code) to safetensors for Artemo.

Optional: Artemo reads the release's pickles natively (no Python, no code executed):
  artemo models import --sevlm-release CKPT_DIR [--epoch E]
This script remains for users who prefer converting with PyTorch itself.

A release holds, for an epoch E:
  nle_model_E/            config.json + pytorch_model.bin (or model.safetensors)
  ckpt_stats_E.tar        torch pickle with 'emo_encoder_state_dict'

Usage:
  python tools/sevlm/convert_reference.py CKPT_DIR EPOCH

Writes nle_model_E/model.safetensors (if only pytorch_model.bin exists) and
CKPT_DIR/emo_encoder.safetensors. Then:
  artemo analyze IMG --model sevlm --reference CKPT_DIR/nle_model_E \
      --emo-encoder CKPT_DIR/emo_encoder.safetensors --clip CLIP_DIR
Run this only on checkpoints you trust: torch.load unpickles arbitrary objects.
Requires torch and safetensors (tools/parity/requirements.txt).
"""
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ckpt, epoch = sys.argv[1], sys.argv[2]
    model_dir = os.path.join(ckpt, f"nle_model_{epoch}")
    st = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(st):
        sd = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu")
        sd = {k: v.contiguous() for k, v in sd.items()
              if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")}
        # Tied heads are stored once: drop lm_head when it equals wte.
        if "lm_head.weight" in sd and torch.equal(sd["lm_head.weight"], sd["transformer.wte.weight"]):
            del sd["lm_head.weight"]
        save_file(sd, st)
        print("wrote", st)
    stats = torch.load(os.path.join(ckpt, f"ckpt_stats_{epoch}.tar"), map_location="cpu")
    if "emo_encoder_state_dict" in stats:
        emo = {k: v.contiguous() for k, v in stats["emo_encoder_state_dict"].items()}
        out = os.path.join(ckpt, "emo_encoder.safetensors")
        save_file(emo, out)
        print("wrote", out)
    else:
        print("this release has no VAD encoder (trained without use_VAD)")


if __name__ == "__main__":
    main()
