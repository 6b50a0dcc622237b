"""Parity fixtures for engine/src/models/bert.rs.

1. A tiny random transformers.BertModel (saved with save_pretrained) and its outputs on
   fixed padded inputs -> tests/fixtures/parity/bert/{tiny/, io.safetensors}.
2. sentence-transformers embeddings of ten sentences with the shipped
   models/all-MiniLM-L6-v2 -> tests/fixtures/parity/bert/minilm_reference.json.

    /work/pyenv/bin/python tools/parity/bert.py [--bench]
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
OUT = os.path.join(REPO, "tests", "fixtures", "parity", "bert")

SENTENCES = [
    "The dark sea swallowing the little boat makes me feel afraid.",
    "A quiet meadow at dusk, with cows resting by the river.",
    "The saint's gaze is calm; his wounded hands rest on his chest.",
    "I can't stop laughing at the dog stealing the sausage!",
    "Grief: a mother holds her dead son, surrounded by weeping women.",
    "Bright reds and golds — the whole palace glows with excitement.",
    "paintings that feel lonely",
    "Café terrace at night, under a starry sky.",
    "",
    "The rotting fruit and the flies crawling over the table disgust me, honestly.",
]


def tiny():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    m = BertModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "LayerNorm" in n or n.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    m.save_pretrained(os.path.join(OUT, "tiny"), safe_serialization=True)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 50, (2, 6), generator=g)
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    ids[1, 4:] = 0
    with torch.no_grad():
        h = m(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    save_file({"input_ids": ids.contiguous(), "attention_mask": mask.contiguous(),
               "last_hidden_state": h.contiguous(), "sentence_embedding": pooled.contiguous()},
              os.path.join(OUT, "io.safetensors"))
    for f in os.listdir(os.path.join(OUT, "tiny")):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(OUT, "tiny", f))


def minilm():
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(os.path.join(REPO, "models", "all-MiniLM-L6-v2"), device="cpu")
    emb = st.encode(SENTENCES, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    with open(os.path.join(OUT, "minilm_reference.json"), "w") as f:
        json.dump({"model": "models/all-MiniLM-L6-v2", "tool": "sentence-transformers",
                   "sentences": SENTENCES, "embeddings": [[round(float(x), 7) for x in r] for r in emb]}, f)


def bench():
    torch.set_num_threads(2)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(os.path.join(REPO, "models", "all-MiniLM-L6-v2"), device="cpu")
    texts = SENTENCES * 10
    st.encode(texts, batch_size=32)
    t = time.time()
    st.encode(texts, batch_size=32)
    print(f"pytorch all-MiniLM-L6-v2: {len(texts)} sentences in {(time.time() - t) * 1000:.0f} ms")


if __name__ == "__main__":
    if "--bench" in sys.argv:
        bench()
    else:
        os.makedirs(OUT, exist_ok=True)
        tiny()
        minilm()
        print("wrote", OUT)
