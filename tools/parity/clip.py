"""CLIP parity fixtures for engine/src/models/clip_vision.rs, clip_text.rs and clip_tokenizer.rs.

Writes tests/fixtures/parity/clip/:
  config.json, model.safetensors  -- a tiny random `CLIPModel` exactly as `save_pretrained` writes it
                                     (HF key layout: vision_model.*, text_model.*, visual_projection.weight,
                                     text_projection.weight, logit_scale)
  io.safetensors                  -- fixed inputs and the PyTorch reference outputs
  tokenizer_ids.json              -- ids from HF `CLIPTokenizer` built from vocab.json/merges.txt derived
                                     from the shipped assets/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz
                                     exactly as OpenAI's clip/simple_tokenizer.py builds its vocabulary

Usage (versions pinned in tools/parity/requirements.txt):
  python tools/parity/clip.py            # (re)writes the fixture
  python tools/parity/clip.py --bench    # ViT-B/16 vision tower (224x224, batch 1) and B text tower
                                         # forward times with random weights, 2 threads
"""
import argparse
import gzip
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, CLIPTextConfig, CLIPVisionConfig

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/parity/clip"
BPE_GZ = ROOT / "assets/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz"

SENTENCES = [
    "a photo of a cat",
    "A Photo Of A CAT!",
    "The dark sea swallowing the little boat makes me feel afraid.",
    "it's what they'll say: we're sure you've seen I'd I'm",
    "   lots   of\twhitespace \n and\r\nnewlines   ",
    "Café crème, naïve façade — Ångström 東京 🎨🙂",
    "numbers 1234 and 3.14159, 50% off; e-mail: a.b@c.de",
    "\"quoted\" (parentheses) [brackets] {braces} <angle> ...!?",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "special <|endoftext|> inside and <|startoftext|> too",
    "",
    "word " * 100,
]


def bytes_to_unicode():
    """OpenAI's byte -> printable unicode table (clip/simple_tokenizer.py, GPT-2)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clip_vocab_and_merges():
    """Vocabulary and merges exactly as clip/simple_tokenizer.py builds them."""
    lines = gzip.open(BPE_GZ).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(merges) == 48894 and len(vocab) == 49408
    return {t: i for i, t in enumerate(vocab)}, merges


def tokenizer_fixture():
    vocab, merges = clip_vocab_and_merges()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in merges:
                f.write(f"{a} {b}\n")
        tok = CLIPTokenizer.from_pretrained(d)
    cases = []
    for s in SENTENCES:
        enc = tok(s, truncation=True, max_length=77)
        cases.append({"text": s, "ids": enc["input_ids"]})
    padded = tok(["a photo of a cat", "a dog"], padding="max_length", max_length=12)
    return {
        "source": "transformers.CLIPTokenizer (tokenizers backend) from vocab.json/merges.txt derived from "
        "assets/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz; truncation=True, max_length=77",
        "vocab_size": len(tok),
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "cases": cases,
        "padded_max_length_12": {
            "texts": ["a photo of a cat", "a dog"],
            "input_ids": padded["input_ids"],
            "attention_mask": padded["attention_mask"],
        },
        "decode_a_photo_of_a_cat": tok.decode(cases[0]["ids"], skip_special_tokens=True),
    }


def tiny_config():
    vocab = 512
    text = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=37,
        projection_dim=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=16,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=vocab - 2,
        eos_token_id=vocab - 1,
        pad_token_id=vocab - 1,
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        projection_dim=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_channels=3,
        image_size=32,
        patch_size=8,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)


@torch.no_grad()
def model_fixture():
    torch.manual_seed(0)
    config = tiny_config()
    model = CLIPModel(config).eval()
    # The default init leaves layer norms at 1/0 and biases at 0: randomise every parameter
    # so that a wrong key, a missing bias or a transposed weight cannot go unnoticed.
    for name, p in model.named_parameters():
        if name == "logit_scale":
            continue
        scale_one = "norm" in name and name.endswith(".weight")
        p.copy_(torch.randn_like(p) * 0.2 + (1.0 if scale_one else 0.0))
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT)

    g = torch.Generator().manual_seed(1)
    pixel_values = torch.randn(2, 3, 32, 32, generator=g)
    v = model.vision_model(pixel_values=pixel_values)
    last = v.last_hidden_state
    grid = model.vision_model.post_layernorm(last[:, 1:])
    image_embeds = model.visual_projection(v.pooler_output)
    hf_image = model.get_image_features(pixel_values=pixel_values).pooler_output
    assert torch.allclose(hf_image, image_embeds)

    bos, eos = config.text_config.bos_token_id, config.text_config.eos_token_id
    input_ids = torch.full((2, 16), eos, dtype=torch.long)
    body0 = torch.randint(0, bos, (5,), generator=g)
    body1 = torch.randint(0, bos, (14,), generator=g)
    input_ids[0, 0] = bos
    input_ids[0, 1:6] = body0  # eos at 6, then eos padding (HF CLIPTokenizer pads with eos)
    input_ids[1, 0] = bos
    input_ids[1, 1:15] = body1  # eos at 15, no padding
    attention_mask = (torch.arange(16)[None, :] <= torch.tensor([[6], [15]])).long()
    t = model.text_model(input_ids=input_ids, attention_mask=attention_mask)
    t_nomask = model.text_model(input_ids=input_ids)
    text_embeds = model.text_projection(t.pooler_output)
    hf_text = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
    assert torch.allclose(hf_text, text_embeds)

    io = {
        "pixel_values": pixel_values,
        "vision_last_hidden_state": last,
        "vision_grid": grid,
        "vision_pooled": v.pooler_output,
        "image_embeds": image_embeds,
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "text_last_hidden_state": t.last_hidden_state,
        "text_last_hidden_state_nomask": t_nomask.last_hidden_state,
        "text_pooled": t.pooler_output,
        "text_embeds": text_embeds,
        "logit_scale": model.logit_scale.detach().reshape(1),
    }
    save_file({k: x.contiguous() for k, x in io.items()}, str(OUT / "io.safetensors"))


def bench():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    from transformers import CLIPTextModelWithProjection, CLIPVisionModelWithProjection

    def timeit(f, n):
        f()
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        ts.sort()
        return ts[len(ts) // 2] * 1e3, ts[0] * 1e3

    with torch.inference_mode():
        for patch in (16, 32):
            cfg = CLIPVisionConfig(patch_size=patch, image_size=224, hidden_size=768, intermediate_size=3072,
                                   num_hidden_layers=12, num_attention_heads=12, projection_dim=512)
            for attn in ("eager", "sdpa"):
                m = CLIPVisionModelWithProjection._from_config(cfg, attn_implementation=attn).eval()
                x = torch.randn(1, 3, 224, 224)
                med, best = timeit(lambda: m(pixel_values=x), 10)
                print(f"torch vision ViT-B/{patch} 224x224 batch 1 ({attn}): median {med:.1f} ms, best {best:.1f} ms")
        cfg = CLIPTextConfig()
        for attn in ("eager", "sdpa"):
            m = CLIPTextModelWithProjection._from_config(cfg, attn_implementation=attn).eval()
            ids = torch.randint(0, 49406, (1, 77))
            ids[0, -1] = 49407
            med, best = timeit(lambda: m(input_ids=ids), 10)
            print(f"torch text B (77 tokens) batch 1 ({attn}): median {med:.1f} ms, best {best:.1f} ms")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args()
    if args.bench:
        bench()
        return
    model_fixture()
    tok = tokenizer_fixture()
    with open(OUT / "tokenizer_ids.json", "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
