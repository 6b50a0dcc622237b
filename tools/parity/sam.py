"""SAM parity fixtures for engine/src/models/sam.rs, sam_decoder.rs and sam_tiny_vit.rs.

Writes tests/fixtures/parity/sam/:
  hf/config.json, hf/model.safetensors
        a tiny random Hugging Face `SamModel` exactly as `save_pretrained` writes it (HF layout:
        vision_encoder.*, shared_image_embedding.*, prompt_encoder.*, mask_decoder.* with HF names)
  hf/io.safetensors
        2 images; image embeddings; the dense positional encoding; sparse/dense prompt
        embeddings for a point+box prompt per image, for a 2-point prompt (padded), and dense
        embeddings of a mask prompt; decoder masks and IoU predictions (multimask and single);
        the output embeddings of the mask tokens and of K = 2 extra tokens (extra tokens are
        passed to HF's decoder as the first entries of the sparse prompt embeddings, and their
        outputs are read from the two-way transformer's output with a forward hook); the same
        with only the first block of the two-way transformer (`num_blocks = 1`)
  mobilesam/model.safetensors
        a tiny random MobileSAM `Sam` (TinyViT encoder) state dict in the original FAIR/MobileSAM
        layout (image_encoder.layers.*, prompt_encoder.*, mask_decoder.*), from the
        `mobilesam-mirror` package (a packaging of github.com/ChaoningZhang/MobileSAM)
  mobilesam/io.safetensors
        1 image, 2 prompts (point+box each): image embeddings, prompt embeddings, decoder
        outputs and extra-token outputs, as above

MobileSAM's TinyViT hard-codes a 1024-pixel input in two places (`x.view(B, 64, 64, C)` in
`forward_features`, and a stride-1 last patch merging chosen by `out_dim in (320, 448, 576)`)
and a 256-channel neck; the tiny model here uses a 32-pixel input, so the script sets the
resolution to img_size / 16 and the last merging's stride to 1 (what both rules give for the
real 1024-pixel model) and builds the neck with 16 channels (same keys). `mobile_sam` imports
`timm` for DropPath / to_2tuple / trunc_normal_ / register_model only (timm needs torchvision);
small stand-ins are installed instead (drop-path rate 0: DropPath is never used).

Usage (versions pinned in tools/parity/requirements.txt):
  python tools/parity/sam.py            # (re)writes the fixtures
  python tools/parity/sam.py --bench    # HF SamModel ViT-B vision encoder and MobileSAM's TinyViT
                                        # at 1024x1024, random weights, 2 threads
"""
import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamPromptEncoderConfig, SamVisionConfig

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/parity/sam"


def randomise(model):
    """The default init leaves norms at 1/0, biases, rel-pos and pos-embed at 0: randomise every
    parameter and BatchNorm statistic so that a wrong key or a transposed weight shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale_one = ("norm" in name or ".bn." in name or "neck.1" in name or "neck.3" in name
                         or "upscaling.1" in name or "downscaling.1" in name or "downscaling.4" in name
                         or "upscale_layer_norm" in name) and name.endswith(".weight")
            std = 1.0 if "positional" in name else 0.2
            p.copy_(torch.randn_like(p) * std + (1.0 if scale_one else 0.0))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)


def f16_exact(x):
    """Inputs rounded to values that f16 holds exactly, so that they can be stored as f16."""
    return x.half().float()


def save_io(io, path):
    """Writes inputs and reference outputs; the large inputs (`F16_INPUTS`, exact in f16) are
    stored as f16 to keep the fixture small; the Rust side reads them back as f32 exactly."""
    t = {}
    for k, v in io.items():
        v = v.contiguous()
        if k in F16_INPUTS:
            assert torch.equal(v.half().float(), v)
            v = v.half()
        t[k] = v
    save_file(t, str(path))


F16_INPUTS = {"pixel_values", "mask_in"}


# --------------------------------------------------------------------------------------------
# Hugging Face SamModel


def hf_tiny_config():
    vision = SamVisionConfig(
        hidden_size=16,
        output_channels=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,  # 4x4 grid: window 3 pads it to 6x6 (4 windows)
        window_size=3,
        global_attn_indexes=[1],
        num_pos_feats=8,
    )
    prompt = SamPromptEncoderConfig(hidden_size=16, image_size=32, patch_size=8, mask_input_channels=8)
    decoder = SamMaskDecoderConfig(
        hidden_size=16, mlp_dim=16, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=12
    )
    return SamConfig(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                     mask_decoder_config=decoder.to_dict())


def decoder_with_extra(decoder, transformer, image_embeddings, image_pe, sparse, dense, extra, multimask):
    """Runs a SAM mask decoder with `extra` [B, K, D] tokens placed after the output tokens and
    before the sparse prompts (i.e. as the first sparse prompt tokens); returns masks, iou,
    iou-token, mask-token and extra-token outputs read from the two-way transformer's output."""
    seen = {}
    handle = transformer.register_forward_hook(lambda m, i, o: seen.__setitem__("q", o[0]))
    k = 0 if extra is None else extra.shape[-2]
    if extra is not None:
        sparse = torch.cat([extra, sparse], dim=-2)
    masks, iou = decoder(image_embeddings, image_pe, sparse, dense, multimask)
    handle.remove()
    q = seen["q"]
    n_mask = decoder.num_mask_tokens
    return masks, iou, q[..., 0, :], q[..., 1 : 1 + n_mask, :], q[..., 1 + n_mask : 1 + n_mask + k, :]


@torch.no_grad()
def hf_fixture():
    torch.manual_seed(0)
    model = SamModel(hf_tiny_config()).eval()
    randomise(model)
    out = OUT / "hf"
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)

    g = torch.Generator().manual_seed(1)
    pixel_values = f16_exact(torch.randn(2, 3, 32, 32, generator=g))
    image_embeddings = model.get_image_embeddings(pixel_values)
    image_pe = model.get_image_wide_positional_embeddings()

    # Prompt A: one point + one box per image (HF: [B, point_batch=1, n, 2], boxes [B, 1, 4]).
    points_a = torch.tensor([[[[12.0, 25.5]]], [[[3.25, 7.0]]]])
    labels_a = torch.tensor([[[1]], [[0]]])
    boxes_a = torch.tensor([[[4.0, 6.0, 30.0, 28.0]], [[0.0, 1.5, 31.0, 20.0]]])
    sparse_a, dense_a = model.prompt_encoder(points_a, labels_a, boxes_a, None)
    # Prompt B: two points (one with label -1), no box: padded with a not-a-point.
    points_b = torch.tensor([[[[20.0, 10.0], [5.0, 30.0]]], [[[31.0, 0.0], [17.5, 17.5]]]])
    labels_b = torch.tensor([[[1, 0]], [[-1, 1]]])
    sparse_b, _ = model.prompt_encoder(points_b, labels_b, None, None)
    # Mask prompt: dense embeddings from a [B, 1, 4h, 4w] mask.
    mask_in = f16_exact(torch.randn(2, 1, 16, 16, generator=g))
    _, dense_mask = model.prompt_encoder(None, None, None, mask_in)

    dec, tr = model.mask_decoder, model.mask_decoder.transformer
    extra = torch.randn(2, 1, 2, 16, generator=g)
    full = decoder_with_extra(dec, tr, image_embeddings, image_pe, sparse_a, dense_a, None, True)
    full_hf = model(image_embeddings=image_embeddings, input_points=points_a, input_labels=labels_a,
                    input_boxes=boxes_a, multimask_output=True)
    assert torch.allclose(full_hf.pred_masks, full[0]) and torch.allclose(full_hf.iou_scores, full[1])
    single = decoder_with_extra(dec, tr, image_embeddings, image_pe, sparse_a, dense_a, None, False)
    with_extra = decoder_with_extra(dec, tr, image_embeddings, image_pe, sparse_a, dense_a, extra, True)
    layers = tr.layers
    tr.layers = layers[:1]
    one_block = decoder_with_extra(dec, tr, image_embeddings, image_pe, sparse_a, dense_mask, extra, True)
    tr.layers = layers

    sq = lambda t: t.squeeze(1)  # drop HF's point_batch dimension (1 here)
    io = {
        "pixel_values": pixel_values,
        "image_embeddings": image_embeddings,
        "image_pe": image_pe,
        "points_a": sq(points_a),
        "labels_a": sq(labels_a).float(),
        "boxes_a": sq(boxes_a),
        "sparse_a": sq(sparse_a),
        "dense_a": dense_a,
        "points_b": sq(points_b),
        "labels_b": sq(labels_b).float(),
        "sparse_b": sq(sparse_b),
        "mask_in": mask_in,
        "dense_mask": dense_mask,
        "extra": sq(extra),
    }
    for tag, r in [("multi", full), ("single", single), ("extra", with_extra), ("block1", one_block)]:
        masks, iou, iou_tok, mask_tok, extra_tok = r
        io[f"{tag}_masks"] = sq(masks)
        io[f"{tag}_iou"] = sq(iou)
        io[f"{tag}_iou_token"] = sq(iou_tok)
        io[f"{tag}_mask_tokens"] = sq(mask_tok)
        if extra_tok.shape[-2] > 0:
            io[f"{tag}_extra_tokens"] = sq(extra_tok)
    save_io(io, out / "io.safetensors")


# --------------------------------------------------------------------------------------------
# MobileSAM (TinyViT), original layout


def import_mobile_sam():
    """`mobile_sam.modeling` without running `mobile_sam/__init__.py` (which imports torchvision
    through its predictor) and with stand-ins for the four timm helpers TinyViT imports."""
    if "timm" not in sys.modules:
        class DropPath(nn.Module):
            def __init__(self, drop_prob=None):
                super().__init__()
                assert not drop_prob, "the stand-in DropPath does not drop"

            def forward(self, x):
                return x

        timm = types.ModuleType("timm")
        models = types.ModuleType("timm.models")
        layers = types.ModuleType("timm.models.layers")
        registry = types.ModuleType("timm.models.registry")
        layers.DropPath = DropPath
        layers.to_2tuple = lambda x: tuple(x) if isinstance(x, (tuple, list)) else (x, x)
        layers.trunc_normal_ = nn.init.trunc_normal_
        registry.register_model = lambda f: f
        timm.models, models.layers, models.registry = models, layers, registry
        sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                            "timm.models.registry": registry})
    spec = importlib.util.find_spec("mobile_sam")
    pkg = types.ModuleType("mobile_sam")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules.setdefault("mobile_sam", pkg)
    import mobile_sam.modeling as modeling
    import mobile_sam.modeling.tiny_vit_sam as tiny_vit_sam

    return modeling, tiny_vit_sam


def tiny_vit_forward_features(self, x):
    """MobileSAM's TinyViT.forward_features with its `64` written as img_size / 16."""
    x = self.patch_embed(x)
    x = self.layers[0](x)
    for i in range(1, len(self.layers)):
        x = self.layers[i](x)
    b, _, c = x.size()
    r = self.img_size // 16
    x = x.view(b, r, r, c).permute(0, 3, 1, 2)
    return self.neck(x)


@torch.no_grad()
def mobilesam_fixture():
    modeling, tvs = import_mobile_sam()
    torch.manual_seed(2)
    enc = modeling.TinyViT(img_size=32, in_chans=3, num_classes=0, embed_dims=[8, 12, 16, 16],
                           depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4], window_sizes=[3, 3, 2, 2],
                           mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, mbconv_expand_ratio=4.0,
                           local_conv_size=3)
    # Stage resolutions 8, 4 (window 3: padded to 6, 4 windows), 2 and 2 (window 2: one window).
    enc.neck = nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), tvs.LayerNorm2d(16),
                             nn.Conv2d(16, 16, 3, padding=1, bias=False), tvs.LayerNorm2d(16))
    enc.layers[2].downsample.conv2.c.stride = (1, 1)
    enc.forward_features = types.MethodType(tiny_vit_forward_features, enc)
    prompt = modeling.PromptEncoder(embed_dim=16, image_embedding_size=(2, 2), input_image_size=(32, 32),
                                    mask_in_chans=8)
    decoder = modeling.MaskDecoder(
        num_multimask_outputs=3,
        transformer=modeling.TwoWayTransformer(depth=1, embedding_dim=16, mlp_dim=16, num_heads=2),
        transformer_dim=16, iou_head_depth=2, iou_head_hidden_dim=12)
    sam = modeling.Sam(image_encoder=enc, prompt_encoder=prompt, mask_decoder=decoder,
                       pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    randomise(sam)
    sam.eval()  # after randomising: TinyViT's attention caches its bias table in eval()

    out = OUT / "mobilesam"
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sam.state_dict().items()}, str(out / "model.safetensors"))

    g = torch.Generator().manual_seed(3)
    image = f16_exact(torch.randn(1, 3, 32, 32, generator=g))
    emb = sam.image_encoder(image)
    points = torch.tensor([[[10.0, 25.0]], [[30.5, 3.0]]])
    labels = torch.tensor([[1.0], [0.0]])
    boxes = torch.tensor([[2.0, 3.0, 20.0, 30.0], [15.0, 0.0, 31.0, 16.0]])
    sparse, dense = sam.prompt_encoder(points=(points, labels), boxes=boxes, masks=None)
    image_pe = sam.prompt_encoder.get_dense_pe()
    extra = torch.randn(2, 3, 16, generator=g)
    r_multi = decoder_with_extra(decoder, decoder.transformer, emb, image_pe, sparse, dense, None, True)
    r_extra = decoder_with_extra(decoder, decoder.transformer, emb, image_pe, sparse, dense, extra, False)
    io = {"pixel_values": image, "image_embeddings": emb, "image_pe": image_pe, "points": points,
          "labels": labels, "boxes": boxes, "sparse": sparse, "dense": dense, "extra": extra}
    for tag, (masks, iou, iou_tok, mask_tok, extra_tok) in [("multi", r_multi), ("extra", r_extra)]:
        io[f"{tag}_masks"] = masks
        io[f"{tag}_iou"] = iou
        io[f"{tag}_mask_tokens"] = mask_tok
        if extra_tok.shape[-2] > 0:
            io[f"{tag}_extra_tokens"] = extra_tok
    save_io(io, out / "io.safetensors")


# --------------------------------------------------------------------------------------------


def bench():
    torch.set_num_threads(2)
    torch.manual_seed(0)

    def timeit(f, n):
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        ts.sort()
        return ts[len(ts) // 2] * 1e3, ts[0] * 1e3

    x = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode():
        for attn in ("eager", "sdpa"):
            cfg = SamConfig()  # SamVisionConfig defaults are ViT-B (facebook/sam-vit-base)
            m = SamModel._from_config(cfg, attn_implementation=attn).eval()
            med, best = timeit(lambda: m.get_image_embeddings(x), 3)
            print(f"torch HF SamModel ViT-B vision encoder 1x3x1024x1024 ({attn}): median {med:.0f} ms, best {best:.0f} ms")
            del m
        modeling, _ = import_mobile_sam()
        enc = modeling.TinyViT(img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320],
                               depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7],
                               mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0, mbconv_expand_ratio=4.0,
                               local_conv_size=3).eval()
        med, best = timeit(lambda: enc(x), 5)
        print(f"torch MobileSAM TinyViT-5M image encoder 1x3x1024x1024: median {med:.0f} ms, best {best:.0f} ms")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args()
    if args.bench:
        bench()
        return
    hf_fixture()
    mobilesam_fixture()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"  {p.relative_to(OUT)}: {p.stat().st_size / 1024:.0f} KiB")
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
