#!/usr/bin/env python3
"""Trains small diffusion networks in PyTorch and exports them with both of PyTorch's ONNX
exporters, as a user would, into tests/fixtures/torch/.

It installs nothing: run it with a Python that has the packages of
scripts/torch-fixtures-requirements.txt, from the repository root:

    python3 scripts/make-torch-fixtures.py            # all models, about 5 minutes on 2 cores

For every model it writes, per exporter, `NAME-EXPORTER-opsetK.onnx` (plus `.onnx.data`
when the exporter stores the weights beside the file) and `NAME.reference.json`: inputs, the
PyTorch output and onnxruntime's output for each exported file, which the Rust tests compare
with the importer and with tract. The summary it prints is what tests/fixtures/torch/README.md
records.
"""

import gzip
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
T = 1000
torch.set_num_threads(2)


# --- Data: the shipped sets -------------------------------------------------------------


def two_moons(n, rng):
    """The layout of edgediff's Toy2d::TwoMoons (host-tools/src/data/toy2d.rs)."""
    a = math.pi * rng.random(n)
    even = np.arange(n) % 2 == 0
    x = np.where(even, np.cos(a), 1.0 - np.cos(a))
    y = np.where(even, np.sin(a), 0.5 - np.sin(a))
    x = (x - 0.5 + 0.05 * rng.standard_normal(n)) * 1.4
    y = (y - 0.25 + 0.05 * rng.standard_normal(n)) * 1.4
    return np.stack([x, y], axis=1).astype(np.float32)


def digits():
    """models/data/digits.csv.gz scaled to [-1, 1] as edgediff does, with labels."""
    with gzip.open(os.path.join(ROOT, "models", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return rows[:, :64] / 8.0 - 1.0, rows[:, 64].astype(np.int64)


def ecg_beats(n, rng, length=128, rate=128.0):
    """ECG-like 1-D signals, `length` samples at `rate` Hz: the P, Q, R, S, T waves of
    McSharry et al.'s ECGSYN model (IEEE Trans. Biomed. Eng. 50(3), 2003: Gaussian bumps at
    phases -pi/3, -pi/12, 0, pi/12, pi/2 with amplitudes 1.2, -5, 30, -7.5, 0.75 and widths
    0.25, 0.1, 0.1, 0.1, 0.4) summed over the cardiac phase, with a random heart rate
    (55-110 bpm), start phase, per-wave amplitude (+-15%) and width (+-10%) jitter, and
    baseline wander (0.1-0.4 Hz), scaled so that the R peak is near 1."""
    theta = np.array([-np.pi / 3, -np.pi / 12, 0.0, np.pi / 12, np.pi / 2])
    a = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
    b = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
    t = np.arange(length) / rate
    hr = rng.uniform(55, 110, (n, 1))
    phase = 2 * np.pi * hr / 60.0 * t + rng.uniform(-np.pi, np.pi, (n, 1))
    out = np.zeros((n, length))
    for i in range(5):
        ai = a[i] * rng.uniform(0.85, 1.15, (n, 1))
        bi = b[i] * rng.uniform(0.9, 1.1, (n, 1))
        d = np.angle(np.exp(1j * (phase - theta[i])))  # wrapped to (-pi, pi]
        out += ai * np.exp(-(d**2) / (2 * bi**2))
    wander = rng.uniform(0.0, 0.1, (n, 1)) * np.sin(2 * np.pi * rng.uniform(0.1, 0.4, (n, 1)) * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    return (out / 30.0 * 1.6 - 0.4 + wander).astype(np.float32)


# --- The noise schedule: DDPM linear betas, edgediff's defaults -------------------------

BETAS = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
ALPHA_BAR = torch.cumprod(1.0 - BETAS, 0).float()


def noised(x0, t, eps):
    ab = ALPHA_BAR[t].view(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, ab


def target(prediction, x0, eps, ab):
    if prediction == "epsilon":
        return eps
    if prediction == "v_prediction":
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0
    raise ValueError(prediction)


# --- Networks, written the common way ----------------------------------------------------


def sinusoidal(t, dim):
    """The DDPM / diffusers timestep embedding."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class Mlp(nn.Module):
    """A 2-D denoiser: time MLP added to the first hidden layer; SiLU, GELU (erf) and GELU
    (tanh) on the sample path."""

    def __init__(self, hidden=64, temb=32):
        super().__init__()
        self.temb = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.inp = nn.Linear(2, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, t):
        e = self.time_mlp(sinusoidal(t, self.temb))
        h = F.silu(self.inp(x) + e)
        h = F.gelu(self.h1(h))
        h = F.gelu(self.h2(h), approximate="tanh")
        return self.out(h)


class ReluMlp(nn.Module):
    """A 2-D denoiser with ReLU activations (fused into the layers before them on the device)."""

    def __init__(self, hidden=64, temb=32):
        super().__init__()
        self.temb = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.inp = nn.Linear(2, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, t):
        h = F.relu(self.inp(x) + self.time_mlp(sinusoidal(t, self.temb)))
        return self.out(self.body(h))


class FilmMlp(nn.Module):
    """A 2-D denoiser with FiLM / AdaGN-style scale-shift modulation by the time embedding:
    h * (1 + scale(t)) + shift(t) after each hidden layer."""

    def __init__(self, hidden=64, temb=32):
        super().__init__()
        self.temb = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, hidden), nn.SiLU())
        self.inp = nn.Linear(2, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.mod = nn.ModuleList([nn.Linear(hidden, 2 * hidden) for _ in range(2)])
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, t):
        e = self.time_mlp(sinusoidal(t, self.temb))
        h = self.inp(x)
        for k, layer in enumerate([None, self.h1]):
            if layer is not None:
                h = layer(h)
            scale, shift = self.mod[k](e).chunk(2, dim=-1)
            h = F.silu(h * (1 + scale) + shift)
        return self.out(h)


class RmsNorm(nn.Module):
    """RMSNorm as LLaMA- and DiT-style code writes it by hand (TorchScript cannot export
    nn.RMSNorm below opset 23)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class NormMlp(nn.Module):
    """A 2-D denoiser with nn.LayerNorm after the input layer and an RMSNorm after the hidden
    layer."""

    def __init__(self, hidden=64, temb=32):
        super().__init__()
        self.temb = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.inp = nn.Linear(2, hidden)
        self.ln = nn.LayerNorm(hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.rms = RmsNorm(hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, t):
        h = F.silu(self.ln(self.inp(x) + self.time_mlp(sinusoidal(t, self.temb))))
        h = F.silu(self.rms(self.h1(h)))
        return self.out(h)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> Conv -> + time projection -> GroupNorm -> SiLU -> Conv, + skip."""

    def __init__(self, cin, cout, temb, groups=4):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(F.silu(emb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """An 8x8 U-Net: conv in, res block, strided-conv down to 4x4, res block, nearest
    upsample + conv, skip concat, res block, GroupNorm + SiLU + conv out. With `classes`, the
    embedding is `time_mlp(sinusoidal(t)) + class_embedding(y)` (diffusers' UNet2DModel
    with class_embed_type), the last class row being the null label of classifier-free
    guidance."""

    def __init__(self, ch=16, temb=32, classes=0):
        super().__init__()
        self.tdim = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.class_embedding = nn.Embedding(classes + 1, temb) if classes else None
        self.conv_in = nn.Conv2d(1, ch, 3, padding=1)
        self.rb1 = ResBlock(ch, ch, temb)
        self.down = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.rb2 = ResBlock(2 * ch, 2 * ch, temb)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * ch, ch, 3, padding=1))
        self.rb3 = ResBlock(2 * ch, ch, temb)
        self.norm_out = nn.GroupNorm(4, ch)
        self.conv_out = nn.Conv2d(ch, 1, 3, padding=1)

    def embedding(self, timestep, class_labels):
        emb = self.time_mlp(sinusoidal(timestep, self.tdim))
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(class_labels)
        return emb

    def forward(self, sample, timestep, class_labels=None):
        emb = self.embedding(timestep, class_labels)
        h0 = self.rb1(self.conv_in(sample), emb)
        h1 = self.rb2(self.down(h0), emb)
        h = self.rb3(torch.cat([self.up(h1), h0], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class CondUNet(UNet):
    """The class-conditional U-Net with the label as a required input (for export)."""

    def forward(self, sample, timestep, class_labels):
        return super().forward(sample, timestep, class_labels)


class SdpaAttention(nn.Module):
    """Self-attention over the pixels as diffusers' Attention block writes it: GroupNorm, one
    1x1 conv to q, k, v, heads split by reshape and unbind, F.scaled_dot_product_attention,
    1x1 conv out, residual."""

    def __init__(self, ch, heads=2):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(4, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)
        o = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(o.transpose(-1, -2).reshape(b, c, h, w))


class MhaAttention(nn.Module):
    """Self-attention with nn.MultiheadAttention over the flattened pixels (tokens x
    channels), as small-U-Net tutorials write it."""

    def __init__(self, ch, heads=2):
        super().__init__()
        self.norm = nn.GroupNorm(4, ch)
        self.mha = nn.MultiheadAttention(ch, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)
        o, _ = self.mha(t, t, t, need_weights=False)
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class AttnUNet(CondUNet):
    """The class-conditional U-Net with two self-attention blocks at 4x4 (the
    scaled-dot-product form of diffusers and nn.MultiheadAttention) after the low-resolution
    res block, and a ConvTranspose2d upsampler (kernel 4, stride 2, padding 1)."""

    def __init__(self, ch=16, temb=32, classes=10):
        super().__init__(ch, temb, classes)
        self.attn = nn.Sequential(SdpaAttention(2 * ch), MhaAttention(2 * ch))
        self.up = nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1)

    def forward(self, sample, timestep, class_labels):
        emb = self.embedding(timestep, class_labels)
        h0 = self.rb1(self.conv_in(sample), emb)
        h1 = self.attn(self.rb2(self.down(h0), emb))
        h = self.rb3(torch.cat([self.up(h1), h0], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class DiTBlock(nn.Module):
    """A DiT block (Peebles & Xie 2023) with adaLN-Zero conditioning, as the reference code
    writes it: LayerNorm without affine, modulate, multi-head self-attention (one qkv Linear,
    heads by reshape and permute, F.scaled_dot_product_attention), gated residual, the same
    around a GELU (tanh) MLP."""

    def __init__(self, dim, heads, mlp_ratio=2):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"), nn.Linear(mlp_ratio * dim, dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def attention(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.proj(o.transpose(1, 2).reshape(b, n, d))

    def forward(self, x, c):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attention(modulate(self.norm1(x), shift1, scale1))
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class QkvDiTBlock(DiTBlock):
    """The DiT block with attention written out by hand, as timm's Attention and many
    tutorials do: `(q @ k.transpose(-2, -1)) * scale`, softmax, `@ v`; or with
    `torch.einsum` for both products."""

    def __init__(self, dim, heads, einsum):
        super().__init__(dim, heads)
        self.einsum = einsum

    def attention(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.einsum:
            a = torch.einsum("bhnd,bhmd->bhnm", q, k) * hd**-0.5
            o = torch.einsum("bhnm,bhmd->bhnd", a.softmax(dim=-1), v)
        else:
            a = (q @ k.transpose(-2, -1)) * hd**-0.5
            o = a.softmax(dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, n, d))


class DiT(nn.Module):
    """A small class-conditional DiT for 8x8 digits: patchify conv (patch 2, 16 tokens), a
    learned position embedding, timestep + class embedding as the adaLN condition, two DiT
    blocks, the final adaLN layer and Linear to patches, unpatchify by reshape and permute."""

    def __init__(self, dim=32, depth=2, heads=2, patch=2, classes=10, qkv=False):
        super().__init__()
        self.patch, self.tdim = patch, dim
        self.patchify = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, (8 // patch) ** 2, dim) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.class_embedding = nn.Embedding(classes + 1, dim)
        if qkv:  # hand-written attention: matmuls in the first block, einsum in the second
            self.blocks = nn.ModuleList([QkvDiTBlock(dim, heads, einsum=i % 2 == 1) for i in range(depth)])
        else:
            self.blocks = nn.ModuleList([DiTBlock(dim, heads) for _ in range(depth)])
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.out = nn.Linear(dim, patch * patch)

    def forward(self, sample, timestep, class_labels):
        c = self.time_mlp(sinusoidal(timestep, self.tdim)) + self.class_embedding(class_labels)
        x = self.patchify(sample).flatten(2).transpose(1, 2) + self.pos
        for blk in self.blocks:
            x = blk(x, c)
        shift, scale = self.ada_out(c).chunk(2, dim=1)
        x = self.out(modulate(self.norm_out(x), shift, scale))
        g, p = 8 // self.patch, self.patch
        x = x.reshape(-1, g, g, p, p, 1).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(-1, 1, 8, 8)


class ResBlock1d(nn.Module):
    """ResBlock over a 1-D signal: GroupNorm -> SiLU -> Conv1d -> + time projection ->
    GroupNorm -> SiLU -> Conv1d, + skip."""

    def __init__(self, cin, cout, temb, groups=4):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.c2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(F.silu(emb))[:, :, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class SepBlock1d(nn.Module):
    """A ConvNeXt-style block: depthwise Conv1d (kernel 7), GroupNorm, pointwise expand, SiLU,
    a grouped dilated Conv1d (4 groups, dilation 2), pointwise project, residual."""

    def __init__(self, ch):
        super().__init__()
        self.dw = nn.Conv1d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.GroupNorm(4, ch)
        self.pw1 = nn.Conv1d(ch, 2 * ch, 1)
        self.dil = nn.Conv1d(2 * ch, 2 * ch, 3, padding=2, dilation=2, groups=4)
        self.pw2 = nn.Conv1d(2 * ch, ch, 1)

    def forward(self, x):
        h = F.silu(self.pw1(self.norm(self.dw(x))))
        return x + self.pw2(F.silu(self.dil(h)))


class UNet1d(nn.Module):
    """A 1-D U-Net for 128-sample signals: Conv1d in (kernel 5), res block, strided Conv1d down
    to 64, res block + separable block, plus a pooled shortcut (average and max pooling of the
    first level, 1x1 Conv1d), nearest upsample + Conv1d, skip concat, res block, GroupNorm +
    SiLU + Conv1d out."""

    def __init__(self, ch=16, temb=32):
        super().__init__()
        self.tdim = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv1d(1, ch, 5, padding=2)
        self.rb1 = ResBlock1d(ch, ch, temb)
        self.down = nn.Conv1d(ch, 2 * ch, 4, stride=2, padding=1)
        self.rb2 = ResBlock1d(2 * ch, 2 * ch, temb)
        self.sep = SepBlock1d(2 * ch)
        self.pool_proj = nn.Conv1d(ch, 2 * ch, 1)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(2 * ch, ch, 3, padding=1))
        self.rb3 = ResBlock1d(2 * ch, ch, temb)
        self.norm_out = nn.GroupNorm(4, ch)
        self.conv_out = nn.Conv1d(ch, 1, 3, padding=1)

    def forward(self, sample, timestep):
        emb = self.time_mlp(sinusoidal(timestep, self.tdim))
        h0 = self.rb1(self.conv_in(sample), emb)
        pooled = F.avg_pool1d(h0, 2) + F.max_pool1d(h0, 3, stride=2, padding=1)
        h1 = self.sep(self.rb2(self.down(h0), emb)) + self.pool_proj(pooled)
        h = self.rb3(torch.cat([self.up(h1), h0], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))


# --- Training -------------------------------------------------------------------------------


def train(model, data, labels, prediction, steps, batch, lr, seed, classes=0, shape=None):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    data = torch.from_numpy(data)
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(data), batch))
        x0 = data[idx]
        if shape is not None:
            x0 = x0.view(-1, *shape)
        eps = torch.randn_like(x0)
        if prediction == "flow_prediction":
            # Flow matching: x_s = (1 - s) x0 + s eps, s = t / T for t in 1..T, the network
            # sees t (= s T, as diffusers' FlowMatchEulerDiscreteScheduler feeds it) and
            # predicts the velocity eps - x0.
            t = torch.randint(1, T + 1, (batch,))
            s = (t.float() / T).view(-1, *([1] * (x0.dim() - 1)))
            xt, goal = (1 - s) * x0 + s * eps, eps - x0
        else:
            t = torch.randint(0, T, (batch,))
            xt, ab = noised(x0, t, eps)
            goal = target(prediction, x0, eps, ab)
        args = [xt, t]
        if classes:
            y = torch.from_numpy(labels[idx.numpy()])
            drop = torch.rand(batch) < 0.1  # classifier-free guidance: 10% null label
            args.append(torch.where(drop, torch.full_like(y, classes), y))
        loss = F.mse_loss(model(*args), goal)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            for k, v in model.state_dict().items():
                ema[k].mul_(0.995).add_(v, alpha=0.005)
        if step % 1000 == 0 or step == steps - 1:
            print(f"  step {step:5d} loss {loss.item():.4f}", flush=True)
    model.load_state_dict(ema)
    model.eval()
    return model


# --- Export ---------------------------------------------------------------------------------


def export(model, args, names, path, exporter, opset):
    """Exports with the call a user writes; TorchScript exports get a dynamic batch axis."""
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")
    if exporter == "torchscript":
        torch.onnx.export(
            model,
            args,
            path,
            input_names=names,
            output_names=["out"],
            opset_version=opset,
            dynamo=False,
            dynamic_axes={n: {0: "batch"} for n in names + ["out"]},
        )
    else:
        torch.onnx.export(model, args, path, input_names=names, output_names=["out"], opset_version=opset, dynamo=True)
        scrub_paths(path)
    return path


def scrub_paths(path):
    """The dynamo exporter records a Python stack trace per node, with this machine's absolute
    paths; keep them relative (repository files) or under <site-packages>, so the committed
    file names no machine path. Weights stay where the exporter put them."""
    m = onnx.load(path, load_external_data=False)
    site = os.path.dirname(os.path.dirname(torch.__file__)) + os.sep
    for n in m.graph.node:
        for p in n.metadata_props:
            p.value = p.value.replace(ROOT + os.sep, "").replace(site, "<site-packages>/")
    onnx.save(m, path)


def reference_cases(model, make_inputs, n, seed):
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n):
        cases.append(make_inputs(rng, k))
    return cases


def run_reference(model, files, cases, names):
    """PyTorch's and onnxruntime's outputs on every case, for every exported file."""
    out = {"inputs": names, "cases": []}
    worst = {}
    sessions = {os.path.basename(f): ort.InferenceSession(f, providers=["CPUExecutionProvider"]) for f in files}
    for case in cases:
        tensors = [torch.from_numpy(np.asarray(case[n])) for n in names]
        with torch.no_grad():
            ref = model(*tensors).numpy()
        entry = {n: np.asarray(case[n]).reshape(-1).tolist() for n in names}
        entry["torch"] = ref.reshape(-1).tolist()
        entry["onnxruntime"] = {}
        for f, s in sessions.items():
            o = s.run(None, {n: np.asarray(case[n]) for n in names})[0]
            entry["onnxruntime"][f] = o.reshape(-1).tolist()
            worst[f] = max(worst.get(f, 0.0), float(np.abs(o - ref).max()))
        out["cases"].append(entry)
    return out, worst


def describe(path):
    m = onnx.load(path, load_external_data=False)
    ops = sorted({n.op_type for n in m.graph.node})
    ext = any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
    return f"opset {opset}, {len(m.graph.node)} nodes, external data: {'yes' if ext else 'no'}; ops: {', '.join(ops)}"


def build(name, model, names, example, make_inputs, exports):
    files = []
    for exporter, opset in exports:
        path = os.path.join(OUT, f"{name}-{exporter}-opset{opset}.onnx")
        export(model, example, names, path, exporter, opset)
        files.append(path)
    cases = reference_cases(model, make_inputs, 8, 7)
    ref, worst = run_reference(model, files, cases, names)
    with open(os.path.join(OUT, f"{name}.reference.json"), "w") as f:
        json.dump(ref, f)
    for p in files:
        print(f"  {os.path.basename(p)}: {describe(p)}")
        print(f"    onnxruntime vs PyTorch, max |diff| over 8 cases: {worst[os.path.basename(p)]:.3g}")


def main():
    os.makedirs(OUT, exist_ok=True)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    only = sys.argv[1:]
    rng = np.random.default_rng(0)
    images, labels = digits()

    if not only or "mlp" in only:
        t0 = time.time()
        print("mlp: two-moons, v-prediction")
        m = train(Mlp(), two_moons(20000, rng), None, "v_prediction", 6000, 256, 2e-3, 0)
        print(f"  trained in {time.time() - t0:.0f} s")

        def mlp_inputs(r, k):
            return {"x": (r.standard_normal((1, 2)) * 1.5).astype(np.float32), "t": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 2), torch.tensor([10]))
        build("mlp", m, ["x", "t"], ex, mlp_inputs, [("torchscript", 13), ("dynamo", 18)])

    if not only or "mlp-relu" in only:
        t0 = time.time()
        print("mlp-relu: two-moons, v-prediction, ReLU")
        m = train(ReluMlp(), two_moons(20000, rng), None, "v_prediction", 6000, 256, 2e-3, 3)
        print(f"  trained in {time.time() - t0:.0f} s")

        def relu_inputs(r, k):
            return {"x": (r.standard_normal((1, 2)) * 1.5).astype(np.float32), "t": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 2), torch.tensor([10]))
        build("mlp-relu", m, ["x", "t"], ex, relu_inputs, [("torchscript", 14), ("dynamo", 19)])

    if not only or "mlp-film" in only:
        t0 = time.time()
        print("mlp-film: two-moons, v-prediction, scale-shift modulation")
        m = train(FilmMlp(), two_moons(20000, rng), None, "v_prediction", 6000, 256, 2e-3, 4)
        print(f"  trained in {time.time() - t0:.0f} s")

        def film_inputs(r, k):
            return {"x": (r.standard_normal((1, 2)) * 1.5).astype(np.float32), "t": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 2), torch.tensor([10]))
        build("mlp-film", m, ["x", "t"], ex, film_inputs, [("torchscript", 16), ("dynamo", 18)])

    if not only or "mlp-norm" in only:
        t0 = time.time()
        print("mlp-norm: two-moons, v-prediction, LayerNorm and RMSNorm")
        m = train(NormMlp(), two_moons(20000, rng), None, "v_prediction", 6000, 256, 2e-3, 6)
        print(f"  trained in {time.time() - t0:.0f} s")

        def norm_inputs(r, k):
            return {"x": (r.standard_normal((1, 2)) * 1.5).astype(np.float32), "t": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 2), torch.tensor([10]))
        build("mlp-norm", m, ["x", "t"], ex, norm_inputs, [("torchscript", 16), ("dynamo", 18)])

    if not only or "unet" in only:
        t0 = time.time()
        print("unet: digits, unconditional, epsilon")
        m = train(UNet(), images, labels, "epsilon", 4000, 64, 2e-3, 1, shape=(1, 8, 8))
        print(f"  trained in {time.time() - t0:.0f} s")

        def unet_inputs(r, k):
            return {"sample": r.standard_normal((1, 1, 8, 8)).astype(np.float32), "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 1, 8, 8), torch.tensor([10]))
        build("unet", m, ["sample", "timestep"], ex, unet_inputs, [("torchscript", 17), ("dynamo", 20)])

    if not only or "unet-cond" in only:
        t0 = time.time()
        print("unet-cond: digits, class-conditional (time + class embeddings summed), v-prediction")
        m = train(CondUNet(classes=10), images, labels, "v_prediction", 4000, 64, 2e-3, 2, classes=10, shape=(1, 8, 8))
        print(f"  trained in {time.time() - t0:.0f} s")

        def cond_inputs(r, k):
            return {
                "sample": r.standard_normal((1, 1, 8, 8)).astype(np.float32),
                "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1),
                "class_labels": np.array([k % 11], dtype=np.int64),
            }

        ex = (torch.randn(1, 1, 8, 8), torch.tensor([10]), torch.tensor([3]))
        build("unet-cond", m, ["sample", "timestep", "class_labels"], ex, cond_inputs, [("torchscript", 15), ("dynamo", 21)])

    if not only or "unet-attn" in only:
        t0 = time.time()
        print("unet-attn: digits, class-conditional, self-attention at 4x4, ConvTranspose up, v-prediction")
        m = train(AttnUNet(classes=10), images, labels, "v_prediction", 4000, 64, 2e-3, 5, classes=10, shape=(1, 8, 8))
        print(f"  trained in {time.time() - t0:.0f} s")

        def attn_inputs(r, k):
            return {
                "sample": r.standard_normal((1, 1, 8, 8)).astype(np.float32),
                "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1),
                "class_labels": np.array([k % 11], dtype=np.int64),
            }

        ex = (torch.randn(1, 1, 8, 8), torch.tensor([10]), torch.tensor([3]))
        build("unet-attn", m, ["sample", "timestep", "class_labels"], ex, attn_inputs, [("torchscript", 17), ("dynamo", 20)])

    if not only or "dit" in only:
        t0 = time.time()
        print("dit: digits, class-conditional DiT (patch 2, 2 blocks, adaLN-Zero), v-prediction")
        steps = int(os.environ.get("DIT_STEPS", "4000"))
        m = train(DiT(), images, labels, "v_prediction", steps, 64, 2e-3, 9, classes=10, shape=(1, 8, 8))
        print(f"  trained in {time.time() - t0:.0f} s")

        def dit_inputs(r, k):
            return {
                "sample": r.standard_normal((1, 1, 8, 8)).astype(np.float32),
                "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1),
                "class_labels": np.array([k % 11], dtype=np.int64),
            }

        ex = (torch.randn(1, 1, 8, 8), torch.tensor([10]), torch.tensor([3]))
        build("dit", m, ["sample", "timestep", "class_labels"], ex, dit_inputs, [("torchscript", 17), ("dynamo", 20)])

    if not only or "dit-qkv" in only:
        t0 = time.time()
        print("dit-qkv: the DiT with hand-written attention (q @ k.transpose, einsum), v-prediction")
        m = train(DiT(qkv=True), images, labels, "v_prediction", 4000, 64, 2e-3, 10, classes=10, shape=(1, 8, 8))
        print(f"  trained in {time.time() - t0:.0f} s")

        def qkv_inputs(r, k):
            return {
                "sample": r.standard_normal((1, 1, 8, 8)).astype(np.float32),
                "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1),
                "class_labels": np.array([k % 11], dtype=np.int64),
            }

        ex = (torch.randn(1, 1, 8, 8), torch.tensor([10]), torch.tensor([3]))
        build("dit-qkv", m, ["sample", "timestep", "class_labels"], ex, qkv_inputs, [("torchscript", 14), ("dynamo", 19)])

    if not only or "unet1d" in only:
        t0 = time.time()
        print("unet1d: ECG-like signals (128 samples), epsilon, Conv1d / depthwise / grouped dilated")
        m = train(UNet1d(), ecg_beats(20000, rng), None, "epsilon", 3000, 64, 2e-3, 8, shape=(1, 128))
        print(f"  trained in {time.time() - t0:.0f} s")

        def sig_inputs(r, k):
            return {"sample": r.standard_normal((1, 1, 128)).astype(np.float32), "timestep": np.array([[0, 17, 250, 501, 733, 999, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 1, 128), torch.tensor([10]))
        build("unet1d", m, ["sample", "timestep"], ex, sig_inputs, [("torchscript", 17), ("dynamo", 20)])

    if not only or "mlp-flow" in only:
        t0 = time.time()
        print("mlp-flow: two-moons, flow matching (velocity eps - x0)")
        m = train(Mlp(), two_moons(20000, np.random.default_rng(7)), None, "flow_prediction", 6000, 256, 2e-3, 7)
        print(f"  trained in {time.time() - t0:.0f} s")

        def flow_inputs(r, k):
            return {"x": (r.standard_normal((1, 2)) * 1.5).astype(np.float32), "t": np.array([[1, 17, 250, 501, 733, 1000, 100, 900][k]], dtype=np.int64).reshape(1)}

        ex = (torch.randn(1, 2), torch.tensor([10]))
        build("mlp-flow", m, ["x", "t"], ex, flow_inputs, [("torchscript", 17), ("dynamo", 20)])


if __name__ == "__main__":
    main()
