"""hemgpu's SegNet (src/model/segnet.ts) in PyTorch, NCHW inside, the same modules under the same
names: stem0..2, pre, em (conv1, em, conv2, bn), post, classifier. Models: 'hemnet' (HEM, η and K
from the config), 'pooling' (the same with K = 1: γ = 1 everywhere, so the unit gives one vector per
image, a blend of μ⁽⁰⁾ and the image's mean feature), 'emanet' (EMAU, below), 'plain' (no EM unit).

Leaf names follow PyTorch's so that its tools apply (SyncBatchNorm, DDP, torch.save): a norm's
gamma/beta/runningMean/runningVar are nn.BatchNorm2d's weight/bias/running_mean/running_var.
checkpoint.py maps them to hemgpu's checkpoint keys and converts the conv weights' layout; see
`hemgpu_entries`. The math follows src/ops/hem/unfused.ts and docs/math.md line by line:

  E-step   γ = softmax(X μᵀ · (1/τ)) over the K bases
  N-step   N_k = Σ_n γ_nk, F = γᵀX / (N + ε), μ' = (1 − η) μ + η F, optionally μ' / (‖μ'‖ + ε)
  R-step   X̃ = γ⁽ᵀ⁾ μ⁽ᵀ⁾
  bases    in training, after the forward: μ⁽⁰⁾ ← m μ⁽⁰⁾ + (1 − m) mean_b μ⁽ᵀ⁾, m = 0.9 (bases_average
           'plain', the paper's moving average and hemgpu's default), or that average with each row
           l2-normalised ('l2norm': hemgpu's rule before its basesAverage field, so every checkpoint
           whose config lacks the field trained with it)

with ε = 1e-6 in both places. 'emanet' (EMAU) is η = 1, τ = 1, normalised bases and the whole
layer, R-step included, without gradient (as EMANet, and as hemgpu: conv1 gets none from it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import settings

HEM_EPS = 1e-6
SEG_MODELS = settings.choices("model")  # src/model/seg-models.ts SEG_MODELS
BASES_AVERAGES = settings.choices("basesAverage")  # src/nn/bases-average.ts BASES_AVERAGES


def l2norm_rows(m: torch.Tensor) -> torch.Tensor:
    return m / (torch.sqrt((m * m).sum(-1, keepdim=True)) + HEM_EPS)


class HEM(nn.Module):
    """The HEM layer with its initial bases μ⁽⁰⁾ [K, C] as the buffer 'mu0' (hemgpu's HEM module)."""

    def __init__(self, channels: int, bases: int, iterations: int, eta: float = 0.5, temperature: float | None = None,
                 normalize_bases: bool = False, detach: bool = False, momentum: float = 0.9, bases_average: str = "plain"):
        super().__init__()
        if not 0 < eta <= 1:
            raise ValueError(f"HEM: eta must be in (0, 1], got {eta}.")
        if bases_average not in BASES_AVERAGES:
            raise ValueError(f"HEM: bases_average must be {' or '.join(map(repr, BASES_AVERAGES))}, got {bases_average!r}.")
        self.bases_average = bases_average
        self.channels, self.bases, self.iterations = channels, bases, iterations
        self.eta = eta
        self.temperature = math.sqrt(channels) if temperature is None else temperature
        self.normalize_bases, self.detach, self.momentum = normalize_bases, detach, momentum
        # hemgpu draws its initial bases with its own generator; a checkpoint's replace these.
        self.register_buffer("mu0", l2norm_rows(torch.randn(bases, channels) * math.sqrt(2 / bases)))

    def em(self, x: torch.Tensor, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, N, C] → (X̃ [B, N, C], μ⁽ᵀ⁾ [B, K, C])."""
        scale = 1 / self.temperature
        mu = self.mu0.clone()  # update_bases changes the buffer in place; autograd needs this value
        gamma = None
        for _ in range(iterations):
            gamma = torch.softmax(torch.matmul(x, mu.transpose(-1, -2)) * scale, dim=-1)  # [B, N, K]
            counts = gamma.sum(1).unsqueeze(-1)  # N_k, [B, K, 1]
            f = torch.matmul(gamma.transpose(1, 2), x) / (counts + HEM_EPS)  # F = γᵀX / (N + ε)
            nxt = mu * (1 - self.eta) + f * self.eta  # the highway
            mu = l2norm_rows(nxt) if self.normalize_bases else nxt
        return torch.matmul(gamma, mu), mu

    def forward(self, x: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        t = iterations or self.iterations
        if self.detach:
            with torch.no_grad():
                out, mu = self.em(x, t)
        else:
            out, mu = self.em(x, t)
        if self.training:
            self.update_bases(mu.detach())
        return out

    @torch.no_grad()
    def update_bases(self, mu_final: torch.Tensor) -> None:
        mean = mu_final.mean(0)
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            # The mean over the global batch (equal batches per process), as one process would see it.
            torch.distributed.all_reduce(mean)
            mean /= torch.distributed.get_world_size()
        avg = self.mu0 * self.momentum + mean * (1 - self.momentum)
        self.mu0.copy_(l2norm_rows(avg) if self.bases_average == "l2norm" else avg)


def batch_norm(channels: int, gamma: float = 1.0) -> nn.BatchNorm2d:
    """hemgpu's BatchNorm: momentum 0.1, eps 1e-5, PyTorch's running-statistics rule (unbiased
    variance). Its num_batches_tracked (SyncBatchNorm needs it) is not in hemgpu's checkpoints:
    with a fixed momentum nothing reads it."""
    bn = nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)
    if gamma != 1:
        nn.init.constant_(bn.weight, gamma)
    return bn


def conv2d(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, bias: bool = True) -> nn.Conv2d:
    """'same' padding for odd k: ((k − 1) / 2) · dilation, as hemgpu's Conv2d."""
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=((k - 1) // 2) * dilation, dilation=dilation, bias=bias)
    nn.init.normal_(conv.weight, std=math.sqrt(2 / (k * k * cin)))  # He-normal; hemgpu's seeds differ
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


class ConvBnRelu(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = conv2d(cin, cout, k, stride, dilation, bias=False)
        self.bn = batch_norm(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class EmBlock(nn.Module):
    """x → 1×1 conv (bias) → HEM/EMAU → ReLU → 1×1 conv → BN → + x → ReLU."""

    def __init__(self, unit: str, channels: int, bases: int, iterations: int, eta: float, gamma: float,
                 bases_average: str = "plain"):
        super().__init__()
        C = channels
        self.conv1 = conv2d(C, C, 1, bias=True)
        if unit == "emau":
            self.em = HEM(C, bases, iterations, eta=1.0, temperature=1.0, normalize_bases=True, detach=True,
                          bases_average=bases_average)
        else:
            self.em = HEM(C, bases, iterations, eta=eta, bases_average=bases_average)
        self.conv2 = conv2d(C, C, 1, bias=False)
        self.bn = batch_norm(C, gamma)

    def forward(self, x, iterations: int | None = None):
        B, C, H, W = x.shape
        y = self.conv1(x).flatten(2).transpose(1, 2)  # [B, N, C], N = H·W in row-major order (hemgpu's NHWC)
        r = self.em(y, iterations)
        z = F.relu(r.transpose(1, 2).reshape(B, C, H, W))
        return F.relu(self.bn(self.conv2(z)) + x)


class SegNet(nn.Module):
    """hemgpu's SegNetConfig as keyword arguments; forward(x NCHW) → logits NCHW at the input size.
    'pooling' has one base whatever `bases` says (as hemgpu's); bases_average defaults to 'plain', as
    hemgpu's SegNet (a config read from a checkpoint says which rule it trained with)."""

    def __init__(self, model: str, in_channels: int, classes: int, channels: int, bases: int, eta: float,
                 iterations: int, width: int = 32, dilation: int = 1, em_gamma: float = 0.0, dropout: float = 0.1,
                 bases_average: str = "plain"):
        super().__init__()
        if model not in SEG_MODELS:
            raise ValueError(f"SegNet: unknown model '{model}'; use {', '.join(SEG_MODELS)}.")
        if bases_average not in BASES_AVERAGES:
            raise ValueError(f"SegNet: bases_average must be {' or '.join(map(repr, BASES_AVERAGES))}, got {bases_average!r}.")
        w, d, C = width, dilation, channels
        self.config = dict(model=model, in_channels=in_channels, classes=classes, channels=C, bases=bases, eta=eta,
                           iterations=iterations, width=w, dilation=d, em_gamma=em_gamma, dropout=dropout,
                           bases_average=bases_average)
        self.stem0 = ConvBnRelu(in_channels, w, 3, 2)
        self.stem1 = ConvBnRelu(w, 2 * w, 3, 2)
        self.stem2 = ConvBnRelu(2 * w, 2 * w, 3, 1, d)
        self.pre = ConvBnRelu(2 * w, C, 3, 1, d)
        k = 1 if model == "pooling" else bases
        self.em = None if model == "plain" else EmBlock("emau" if model == "emanet" else "hem", C, k, iterations, eta, em_gamma,
                                                        bases_average)
        self.post = ConvBnRelu(C, 2 * w, 3, 1, d)
        self.dropout = nn.Dropout(dropout)  # PyTorch's RNG: masks differ from hemgpu's (p = 0 for parity)
        self.classifier = conv2d(2 * w, classes, 1, bias=True)

    def forward(self, x, iterations: int | None = None):
        h = x
        for block in (self.stem0, self.stem1, self.stem2, self.pre):
            h = block(h)
        if self.em is not None:
            h = self.em(h, iterations)
        h = self.post(h)
        if self.training and self.dropout.p > 0:
            h = self.dropout(h)
        logits = self.classifier(h)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def hemgpu_entries(model: nn.Module) -> tuple[list, list]:
    """(parameters, buffers) as lists of (hemgpu name, tensor, is_conv_weight), in hemgpu's order
    (a module's own tensors, then its children's in registration order: Module.parameters())."""
    if hasattr(model, "module") and isinstance(model.module, nn.Module):  # DistributedDataParallel
        model = model.module
    params, buffers = [], []

    def walk(m: nn.Module, prefix: str) -> None:
        if isinstance(m, nn.Conv2d):
            params.append((prefix + "weight", m.weight, True))
            if m.bias is not None:
                params.append((prefix + "bias", m.bias, False))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):  # BatchNorm2d or SyncBatchNorm
            params.extend([(prefix + "gamma", m.weight, False), (prefix + "beta", m.bias, False)])
            buffers.extend([(prefix + "runningMean", m.running_mean, False), (prefix + "runningVar", m.running_var, False)])
        elif isinstance(m, HEM):
            buffers.append((prefix + "mu0", m.mu0, False))
        for name, c in m.named_children():
            if c is not None and not isinstance(c, nn.Dropout):
                walk(c, f"{prefix}{name}.")

    walk(model, "")
    return params, buffers
