"""torch.save fixtures for Artemo's native PyTorch import (engine/src/models/torch_import.rs,
engine/src/sevlm/checkpoint.rs) and the SEVLM-release parity fixture.

    /work/pyenv/bin/python tools/parity/torch_checkpoints.py --sevlm-code /tmp/sevlm-code

(`--sevlm-code`: a checkout of BetterZH/SEVLM-code, e.g.
`git -C /work/.mirror/BetterZH+SEVLM-code/repo archive HEAD | tar -x -C /tmp/sevlm-code`.)

Writes, under tests/fixtures/parity/:
  torch/gpt2_bin/        a tiny GPT-2 state dict in HF keys as pytorch_model.bin (torch.save,
                         zip format), one tensor in f16, a bool causal-mask buffer as old HF
                         checkpoints carry; config.json.
  torch/gpt2_reference.safetensors (the float
                         tensors as torch holds them, to compare the reader against).
  torch/mobilesam.pth    the MobileSAM parity checkpoint (sam/mobilesam/model.safetensors) as
                         the FAIR / MobileSAM releases ship it: one torch.save'd state dict.
  torch/legacy.pt        the legacy non-zip format (_use_new_zipfile_serialization=False).
  sevlm_release/release/ a tiny SEVLM release in the reference layout
                         (artEmisX_train.py:79-118 save_checkpoint):
                           nle_model_0/config.json + pytorch_model.bin (decoder, wte in f16),
                           ckpt_stats_0.tar ({'epoch', 'optimizer_state_dict' (a real AdamW
                           state after one step), 'emo_encoder_state_dict', 'scheduler',
                           'best_acc', 'best_res'}),
                           nle_gpt2_tokenizer_0/ (the added-token files of the tokenizer the
                           reference saves; vocab.json/merges.txt are GPT-2's and are left out
                           to keep the fixture small).
  sevlm_release/lexicon.txt  a tiny NRC VAD BipolarScale-format lexicon (word\tV\tA\tD).
  sevlm_release/expected.json + features.safetensors
                         the reference's greedy decoding of fixed image features.

The reference run: the authors' own modules (models/gpt.py GPT2LMHeadModel,
models/vad_encoder.py Transformer) imported from --sevlm-code, under four compatibility
shims for transformers 5.x (each named where it is installed, nothing else changes):
Conv1D moved to transformers.pytorch_utils; PreTrainedModel.init_weights now needs
transformers' tie map (weights are set here anyway); invert_attention_mask and get_head_mask
were removed (re-added as transformers 4.x defined them); utils/data_utils.py imports
single_caption_per_image (pandas, training only) for a helper inference never calls.
The greedy loop is artEmisX_train.py:164-248 (sample_sequences) run step by step with the
same rules (cited inline). Two inputs differ from the paper's setting, on both sides alike:
the image encoder is replaced by fixed random grid features (features.safetensors, as
wide as the decoder, like the reference's CLIP grid fed to cross-attention), and
lemmatisation is the identity (nltk data cannot be downloaded here): the lexicon words are
chosen to be their own lemmas.
"""
import argparse
import json
import os
import sys
import time
import types

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures",
                    "parity")
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assets")

# Words of the tiny lexicon: each its own lemma, lower case (identity lemmatisation).
LEXICON = {
    "sad": (-0.8, -0.2, -0.5),
    # NRC rates "sadness" itself; without it Artemo's POS-agnostic lemma fallback would
    # read it as "sad" where WordNet keeps the noun "sadness" (the reference: 0).
    "sadness": (-0.9, -0.3, -0.6),
    "dark": (-0.4, 0.1, -0.1),
    "calm": (0.5, -0.8, 0.1),
    "storm": (-0.3, 0.7, 0.2),
    "light": (0.6, 0.1, 0.3),
    "sky": (0.4, -0.3, 0.1),
    "sea": (0.3, -0.1, 0.0),
}
# Tokens whose embeddings are enlarged so that greedy decoding walks among them.
STORY = [" because", " sadness", " awe", " the", " sky", " sad", " dark", " calm", " storm",
         " light", " sea", " is", " and"]
# The end token's embedding is enlarged less, so that some decodings stop on it.
EOT_SCALE = 3.0


def gpt2_tokenizer():
    from transformers import GPT2Tokenizer
    tok = GPT2Tokenizer(os.path.join(ASSETS, "tokenizers", "gpt2", "encoder.json"),
                        os.path.join(ASSETS, "tokenizers", "gpt2", "vocab.bpe"))
    # artEmisX_train.py adds these (ids 50257..50260).
    tok.add_special_tokens({"pad_token": "<pad>",
                            "additional_special_tokens": ["<prefix>", "<emotion>", "<explanation>"]})
    return tok


def write_gpt2_bin():
    from transformers import GPT2Config, GPT2LMHeadModel
    out = os.path.join(ROOT, "torch", "gpt2_bin")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(3)
    cfg = GPT2Config(vocab_size=64, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    m = GPT2LMHeadModel(cfg).eval()
    sd = m.state_dict()  # lm_head.weight shares wte's storage: one record, two names
    sd["transformer.h.0.mlp.c_fc.weight"] = sd["transformer.h.0.mlp.c_fc.weight"].half()
    # Old HF checkpoints carry the causal mask as a buffer (bool here: a storage type the
    # reader skips with a reason).
    sd["transformer.h.0.attn.bias"] = torch.tril(torch.ones(16, 16, dtype=torch.bool)).view(1, 1, 16, 16)
    torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    cfg.to_json_file(os.path.join(out, "config.json"))
    ref = {k: v.clone().contiguous() for k, v in sd.items() if v.is_floating_point()}
    save_file(ref, os.path.join(ROOT, "torch", "gpt2_reference.safetensors"))
    torch.save({"w": torch.zeros(2)}, os.path.join(ROOT, "torch", "legacy.pt"),
               _use_new_zipfile_serialization=False)


def write_mobilesam_pth():
    from safetensors.torch import load_file
    sd = load_file(os.path.join(ROOT, "sam", "mobilesam", "model.safetensors"))
    torch.save(sd, os.path.join(ROOT, "torch", "mobilesam.pth"))


def import_reference(code):
    """The authors' modules under the transformers 5.x shims (see the module docstring)."""
    sys.path.insert(0, code)
    import transformers
    import transformers.modeling_utils as mu
    import transformers.pytorch_utils as pu
    mu.Conv1D = pu.Conv1D  # shim 1: models/gpt.py:9
    transformers.GPT2PreTrainedModel.init_weights = lambda self: None  # shim 2: gpt.py:326

    def invert_attention_mask(self, m):  # shim 3: gpt.py:416 (transformers 4.x definition)
        e = m[:, None, None, :] if m.dim() == 2 else m[:, None, :, :]
        e = e.to(dtype=self.dtype)
        return (1.0 - e) * torch.finfo(self.dtype).min
    transformers.GPT2PreTrainedModel.invert_attention_mask = invert_attention_mask
    transformers.GPT2PreTrainedModel.get_head_mask = (  # shim 3: gpt.py:423
        lambda self, hm, n: [None] * n if hm is None else hm)
    stub = types.ModuleType("single_caption_per_image")  # shim 4: utils/data_utils.py:3
    stub.dominant_maximizer = None
    sys.modules["single_caption_per_image"] = stub
    from models.gpt import GPT2LMHeadModel
    from models.vad_encoder import Transformer
    return GPT2LMHeadModel, Transformer


def build_release(GPT2LMHeadModel, Transformer, tok, seed):
    from transformers import GPT2Config
    torch.manual_seed(seed)
    n_embd = 8
    cfg = GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=n_embd, n_layer=2, n_head=2,
                     add_cross_attention=True, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    # artEmisX_train.py:348-360: SEVLM's extra config fields.
    cfg.len_prefix = 0
    cfg.use_distribution_loss = False
    cfg.use_VAD_loss = True
    cfg.use_cl_loss = True
    cfg.encoder_dim = n_embd
    dec = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for n, p in dec.named_parameters():
            if n.endswith("bias") or ".ln" in n:
                p.copy_(0.1 * torch.randn_like(p) + (1.0 if n.endswith("weight") else 0.0))
            else:
                p.copy_(0.3 * torch.randn_like(p))
        story = [tok.convert_tokens_to_ids(tok.tokenize(w))[0] for w in STORY]
        dec.transformer.wte.weight[story] *= 6.0
        dec.transformer.wte.weight[tok.eos_token_id] *= EOT_SCALE
        # The stored wte is f16: round it here so both sides use the same values.
        dec.transformer.wte.weight.copy_(dec.transformer.wte.weight.half().float())
    dec.lm_head.weight = dec.transformer.wte.weight  # tied, as from_pretrained ties them
    # artEmisX_train.py:322,333: EF_DIM = 3, VAD_En_Layers 3, VAD_En_Heads 1, ff 128.
    emo = Transformer(3, num_layers=3, nhead=1, dim_feedforward=128).eval()
    with torch.no_grad():
        for n, p in emo.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    return cfg, dec, emo


def sentence_vad(words):
    """utils/get_VADfeature.py:17-25 with identity lemmatisation."""
    return [list(LEXICON[w]) if w in LEXICON else [0.0, 0.0, 0.0] for w in words]


def greedy(dec, emo, tok, image):
    """artEmisX_train.py:164-248 (sample_sequences) for one image, no_sample=True."""
    specials = tok.convert_tokens_to_ids(
        ['<|endoftext|>', '<pad>', '<prefix>', '<emotion>', '<explanation>'])  # :173-174
    because = tok.convert_tokens_to_ids('Ġbecause')  # :175
    max_len = 25  # :176
    # utils/datasets.py:203-233 (artEmisXEvalDataset, len_prefix 0): <bos> + prompt.
    emo_seg, exp_seg = specials[3], specials[4]
    tokens = [tok.bos_token] + tok.tokenize(" the emotion is")  # opts.py:14
    input_ids = torch.tensor([tok.convert_tokens_to_ids(tokens)])
    segment_ids = torch.tensor([[emo_seg] * len(tokens)])
    vad = torch.tensor([sentence_vad([t.replace('Ġ', '') for t in tokens])], dtype=torch.float)
    prompt = input_ids[0].tolist()
    out_ids, end_idx, always_exp, steps = [], max_len, False, []
    with torch.no_grad():
        for step in range(max_len):
            (_, _, ef) = emo(vad)  # :192
            outputs = dec(input_ids=input_ids, past_key_values=None, attention_mask=None,
                          token_type_ids=segment_ids, position_ids=None,
                          encoder_hidden_states=image, encoder_attention_mask=None,
                          labels=None, use_cache=False, return_dict=True, emo_features=ef)
            logits = outputs.logits[0][:, -1, :]  # :209-210 (temperature 1)
            top2 = torch.topk(logits[0], 2)
            prev = torch.topk(torch.softmax(logits, -1), 1)[1]  # :213 (top-p leaves the argmax)
            steps.append({"id": prev.item(), "logit": top2.values[0].item(),
                          "margin": (top2.values[0] - top2.values[1]).item()})
            input_ids = torch.cat((input_ids, prev), dim=1)  # :215
            out_ids.append(prev.item())
            if prev.item() in specials and end_idx == max_len:  # :219-220
                end_idx = step + 1
            # :221-224: every token's VAD again, from its decoded text.
            words = [tok.decode(w, skip_special_tokens=False).lstrip() for w in input_ids[0]]
            vad = torch.tensor([sentence_vad(words)], dtype=torch.float)
            if not always_exp:  # :225-232
                seg = exp_seg if prev.item() == because else emo_seg
                always_exp = prev.item() == because
            else:
                seg = exp_seg
            segment_ids = torch.cat((segment_ids, torch.tensor([[seg]])), dim=1)
            if end_idx != max_len:
                break  # later steps do not change current_outputs[1:end_idx] (:239)
    # :239 keeps current_outputs[1:end_idx]: the tokens before the first end token, and
    # without one (end_idx = max_len) the first max_len - 1 = 24: the 25th is dropped.
    stopped = end_idx != max_len
    ids = out_ids[:end_idx - 1]
    text = tok.decode(ids, skip_special_tokens=True).lstrip()  # :239
    return prompt, ids, text, steps[:len(ids) + (1 if stopped else 0)], stopped


def write_release(code, first_seed):
    GPT2LMHeadModel, Transformer = import_reference(code)
    tok = gpt2_tokenizer()
    assert tok.convert_tokens_to_ids(['<pad>', '<prefix>', '<emotion>', '<explanation>']) == \
        [50257, 50258, 50259, 50260]
    lex_words = set(LEXICON)
    b = tok.convert_tokens_to_ids('Ġbecause')
    gen = torch.Generator().manual_seed(11)
    # Fixed random grid features in place of CLIP's, one [1, 5, 8] per painting.
    images = torch.randn(4, 1, 5, 8, generator=gen)

    def explains(ids):
        words = [tok.decode([i]).strip() for i in ids]
        return (b in ids and 1 <= ids.index(b) < len(ids) - 3
                and len([w for w in words[ids.index(b):] if w in lex_words]) >= 2
                and len(set(ids)) >= 4)

    chosen = None
    for seed in range(first_seed, first_seed + 300):
        cfg, dec, emo = build_release(GPT2LMHeadModel, Transformer, tok, seed)
        runs = [greedy(dec, emo, tok, images[k]) for k in range(len(images))]
        margins = min(st["margin"] for r in runs for st in r[3])
        # One decoding switches segment at `because` and meets lexicon words after it; one
        # stops on an end token after a few words.
        if (margins > 0.05 and any(explains(r[1]) for r in runs)
                and any(r[4] and len(r[1]) >= 3 for r in runs)
                and any(not r[4] for r in runs)):
            chosen = seed
            break
    if chosen is None:
        sys.exit("no seed gives decodings that exercise the segment switch, the lexicon and the stop")
    rel = os.path.join(ROOT, "sevlm_release", "release")
    md = os.path.join(rel, "nle_model_0")
    os.makedirs(md, exist_ok=True)
    sd = dec.state_dict()
    sd["transformer.wte.weight"] = sd["transformer.wte.weight"].half()
    sd = {k: v for k, v in sd.items() if k != "lm_head.weight"}  # tied: from_pretrained re-ties
    torch.save(sd, os.path.join(md, "pytorch_model.bin"))
    cfg.to_json_file(os.path.join(md, "config.json"))
    # A real optimizer state after one step, so the reader has to walk over it.
    opt = torch.optim.AdamW(list(emo.parameters()), lr=1e-5)
    before = {k: v.clone() for k, v in emo.state_dict().items()}
    loss = emo(torch.randn(1, 4, 3))[1].sum()
    loss.backward()
    opt.step()
    emo.load_state_dict(before)  # the saved encoder is the one the decoding used
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    torch.save({"epoch": 0, "optimizer_state_dict": opt.state_dict(),
                "emo_encoder_state_dict": emo.state_dict(), "scheduler": sched.state_dict(),
                "best_acc": 0.25, "best_res": {"Bleu_1": 0.5}},
               os.path.join(rel, "ckpt_stats_0.tar"))
    # The tokenizer folder as transformers 4.x save_pretrained writes it (the release's
    # era), without GPT-2's own vocab.json / merges.txt (1.5 MB, unchanged by SEVLM).
    td = os.path.join(rel, "nle_gpt2_tokenizer_0")
    os.makedirs(td, exist_ok=True)
    added = {t: tok.convert_tokens_to_ids(t) for t in ['<pad>', '<prefix>', '<emotion>', '<explanation>']}
    with open(os.path.join(td, "added_tokens.json"), "w") as f:
        json.dump(added, f)
    with open(os.path.join(td, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "pad_token": "<pad>",
                   "additional_special_tokens": ["<prefix>", "<emotion>", "<explanation>"]}, f)
    with open(os.path.join(ROOT, "sevlm_release", "lexicon.txt"), "w") as f:
        for w, (v, a, d) in sorted(LEXICON.items()):
            f.write(f"{w}\t{v}\t{a}\t{d}\n")
    save_file({"images": images.contiguous()},
              os.path.join(ROOT, "sevlm_release", "features.safetensors"))
    with open(os.path.join(ROOT, "sevlm_release", "expected.json"), "w") as f:
        json.dump({"seed": chosen, "prompt_ids": runs[0][0],
                   "runs": [{"image": k, "ids": r[1], "text": r[2], "steps": r[3],
                             "stopped_on_end_token": r[4]}
                            for k, r in enumerate(runs)],
                   "reference": "BetterZH/SEVLM-code models/gpt.py, "
                   "models/vad_encoder.py, artEmisX_train.py sample_sequences (greedy)"},
                  f, indent=1)
    for k, r in enumerate(runs):
        print("release seed", chosen, "image", k, "ids", r[1], repr(r[2]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sevlm-code", required=True, help="a checkout of BetterZH/SEVLM-code")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="where the seed search starts (the committed fixture: seed 113, found "
                    "from 0 in about 20 minutes on 2 cores; --first-seed 113 rewrites it at once)")
    args = ap.parse_args()
    t = time.time()
    write_gpt2_bin()
    write_mobilesam_pth()
    write_release(args.sevlm_code, args.first_seed)
    print(f"wrote {ROOT} in {time.time() - t:.1f}s")


if __name__ == "__main__":
    main()
