"""PyTorch timing of SEVLM's reference decoding procedure (issue 22), beside
`artemo bench sevlm --only paper,generation`.

The reference's `sample_sequences` (BetterZH/SEVLM-code `artEmisX_train.py:164-248`)
re-runs the whole decoder at every step with `past_key_values=None, use_cache=False`
(`:197-207`): the VAD encoder over the sequence's per-token VAD (`:191-192`), the VAD
fusion from position 6 on (`models/gpt.py:443-451`), every block with cross-attention
over the image's 196 CLIP grid tokens, and the LM head at every position; it reads the
last position (`:210-211`), appends the greedy token and rebuilds the VAD of the whole
sequence (`:218-224`). This script does the same with the same shapes and random
weights: HF `GPT2LMHeadModel` (distilgpt2 size, cross-attention, vocabulary 50261), a
3-layer, 1-head, 3-wide VAD encoder written here from the reference's description, the
fusion as `inputs_embeds` (the fused states minus the position embeddings that HF adds
back, so the blocks see exactly the reference's states). The image encoder runs once per
painting in the reference too and is not timed (Artemo's row does not time it either).

    /work/pyenv/bin/python tools/bench/sevlm_generate.py --bench [--threads 2] [--tokens 25]

Prints one line per measurement, e.g. `pytorch sevlm-paper generation, 25 tokens: 1234.5 ms`.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB = 50261  # GPT-2 + <pad>, <prefix>, <emotion>, <explanation> (SEVLM's tokenizer)
EMOTION_SEG, EXPLANATION_SEG = 50259, 50260
SPAN = 6  # positions before the VAD fusion (models/gpt.py:446)


class VadLayer(nn.Module):
    """Post-norm encoder layer of width 3, one head, feed-forward 128."""

    def __init__(self, d=3, ff=128):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.fc = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x):
        a = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) / math.sqrt(x.shape[-1]), -1)
        y = self.n1(x + a @ self.v(x))
        return self.n2(y + self.fc(y))


class VadEncoder(nn.Module):
    """Bidirectional: learned positions, a layer norm, 3 layers each added residually."""

    def __init__(self, d=3, layers=3, max_pos=5000):
        super().__init__()
        self.pos = nn.Embedding(max_pos, d)
        self.norm = nn.LayerNorm(d)
        self.layers = nn.ModuleList(VadLayer(d) for _ in range(layers))

    def forward(self, vad):
        x = self.norm(vad + self.pos(torch.arange(vad.shape[1])).unsqueeze(0))
        for layer in self.layers:
            x = x + layer(x)
        return x


def fused_inputs(gpt, vad_encoder, vad_linear, ids, segs, vad):
    """`inputs_embeds` such that HF's `inputs_embeds + wpe(positions)` equals the
    reference's fused hidden states (token + position + segment, VAD fused from SPAN on)."""
    wte, wpe = gpt.transformer.wte, gpt.transformer.wpe
    pos = wpe(torch.arange(ids.shape[1])).unsqueeze(0)
    h = wte(ids) + pos + wte(segs)
    if ids.shape[1] > SPAN:
        ef = vad_encoder(vad)
        tail = vad_linear(torch.cat((h[:, SPAN:], ef[:, SPAN:]), dim=2))
        h = torch.cat((h[:, :SPAN], tail), dim=1)
    return h - pos


def sample_sequences(gpt, vad_encoder, vad_linear, image, tokens, lexicon):
    """Greedy decoding of `tokens` tokens with the reference's full recompute per step."""
    ids = torch.tensor([[50256, 262, 9942, 318]])  # <bos> Ġthe Ġemotion Ġis
    segs = torch.full_like(ids, EMOTION_SEG)
    vad = torch.zeros(1, ids.shape[1], 3)
    for _ in range(tokens):
        embeds = fused_inputs(gpt, vad_encoder, vad_linear, ids, segs, vad)
        out = gpt(inputs_embeds=embeds, encoder_hidden_states=image, use_cache=False,
                  return_dict=True)
        logits = out.logits[:, -1, :]
        probs = torch.softmax(logits, dim=-1)
        prev = torch.topk(probs, 1)[1]
        ids = torch.cat((ids, prev), dim=1)
        segs = torch.cat((segs, torch.full_like(prev, EXPLANATION_SEG)), dim=1)
        # The VAD of the whole sequence again, one lexicon lookup per token (`:221-224`).
        vad = torch.tensor([[lexicon.get(int(t), (0.0, 0.0, 0.0)) for t in ids[0]]])
    return ids


def bench(threads, tokens, runs):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=768, n_layer=6, n_head=12,
                     add_cross_attention=True)
    gpt = GPT2LMHeadModel(cfg).eval()
    vad_encoder = VadEncoder().eval()
    vad_linear = nn.Linear(768 + 3, 768)
    image = torch.randn(1, 196, 768)
    g = torch.Generator().manual_seed(1)
    lexicon = {int(i): tuple(torch.rand(3, generator=g).tolist())
               for i in torch.randint(0, 50257, (4000,), generator=g)}
    with torch.no_grad():
        sample_sequences(gpt, vad_encoder, vad_linear, image, tokens, lexicon)
        ms = []
        for _ in range(runs):
            t = time.perf_counter()
            sample_sequences(gpt, vad_encoder, vad_linear, image, tokens, lexicon)
            ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    print(f"pytorch {torch.__version__}, {threads} thread(s), median of {runs}")
    print(f"pytorch sevlm-paper generation (sample_sequences, use_cache=False), "
          f"{tokens} tokens: {ms[len(ms) // 2]:.1f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true", help="run the timing (the only mode)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    bench(a.threads, a.tokens, a.runs)
