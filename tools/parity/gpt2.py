"""Parity fixtures for engine/src/models/gpt2.rs.

Builds tiny random GPT2LMHeadModel configurations (with and without cross-attention),
saves them with save_pretrained (HF layout, safetensors) and records logits for fixed
inputs into tests/fixtures/parity/gpt2/io.safetensors.

    /work/pyenv/bin/python tools/parity/gpt2.py            # write fixtures
    /work/pyenv/bin/python tools/parity/gpt2.py --bench    # time distilgpt2-size forward
"""
import os
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "parity", "gpt2")


def tiny(cross):
    torch.manual_seed(1 if cross else 0)
    cfg = GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                     add_cross_attention=cross, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    m = GPT2LMHeadModel(cfg).eval()
    # Non-trivial layer norms and biases so every parameter matters.
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("bias") or "ln" in n:
                p.add_(0.1 * torch.randn_like(p))
    return m


def main():
    os.makedirs(ROOT, exist_ok=True)
    g = torch.Generator().manual_seed(42)
    ids = torch.randint(0, 64, (2, 7), generator=g)
    tt = torch.randint(60, 64, (2, 7), generator=g)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, :2] = 0  # left padding in the second row
    enc = torch.randn(2, 5, 32, generator=g)
    io = {"input_ids": ids.to(torch.int64), "token_type_ids": tt.to(torch.int64),
          "attention_mask": mask.to(torch.int64), "encoder_hidden_states": enc}
    for name, cross in [("plain", False), ("cross", True)]:
        m = tiny(cross)
        m.save_pretrained(os.path.join(ROOT, name), safe_serialization=True)
        with torch.no_grad():
            kw = {"encoder_hidden_states": enc} if cross else {}
            # HF derives position ids from the cache length, not the mask: 0..T-1.
            out = m(input_ids=ids, token_type_ids=tt, attention_mask=mask,
                    position_ids=torch.arange(7).unsqueeze(0).expand(2, 7), **kw)
        io[f"{name}.logits"] = out.logits.contiguous()
    # candle reads integer tensors as u32/i64; store ids as int64 -> converted in Rust.
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(ROOT, "io.safetensors"))
    for name in ["plain", "cross"]:
        for f in os.listdir(os.path.join(ROOT, name)):
            if f not in ("config.json", "model.safetensors"):
                os.remove(os.path.join(ROOT, name, f))
    print("wrote", ROOT)


def bench():
    torch.set_num_threads(2)
    cfg = GPT2Config(n_embd=768, n_layer=6, n_head=12, add_cross_attention=True)
    m = GPT2LMHeadModel(cfg).eval()
    ids = torch.randint(0, 50257, (1, 30))
    enc = torch.randn(1, 196, 768)
    with torch.no_grad():
        m(input_ids=ids, encoder_hidden_states=enc)
        t = time.time()
        for _ in range(5):
            m(input_ids=ids, encoder_hidden_states=enc)
    print(f"pytorch distilgpt2+cross, 30 tokens, 196 encoder states: {(time.time() - t) / 5 * 1000:.1f} ms")


if __name__ == "__main__":
    bench() if "--bench" in sys.argv else main()
