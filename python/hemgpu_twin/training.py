"""hemgpu's training recipe in PyTorch (src/train/setup.ts, step.ts, batch.ts): the learning-rate
schedule, the loss and background sampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_LABEL = 255


def poly_lr(base: float, step: int, total: int, power: float = 0.9) -> float:
    """base · (1 − step/total)^power (src/optim/schedule.ts polyLr), 0 ≤ step ≤ total."""
    if not 0 <= step <= total:
        raise ValueError(f"poly_lr: step must be in [0, {total}], got {step}.")
    return base * (1 - step / total) ** power


def learning_rate(config: dict, step: int) -> float:
    """Linear warm-up over config['warmup'] steps, then the poly schedule over config['steps']."""
    warm = config.get("warmup", 0)
    poly = poly_lr(config["lr"], step, config["steps"])
    return poly * (step + 1) / (warm + 1) if step < warm else poly


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL) -> torch.Tensor:
    """Mean cross-entropy over the pixels not ignored; 0 (not NaN, as hemgpu) when every pixel is."""
    if not (labels != ignore_index).any():
        return logits.sum() * 0
    return F.cross_entropy(logits, labels, ignore_index=ignore_index)


def sample_background(labels: torch.Tensor, keep: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """hemgpu's bg-keep: each background (class 0) pixel kept with probability `keep`, otherwise
    ignored, in place (hemgpu draws with its own seeded generator, so the pixels differ)."""
    if keep >= 1:
        return labels
    drop = (labels == 0) & (torch.rand(labels.shape, generator=generator, device=labels.device) >= keep)
    labels[drop] = IGNORE_LABEL
    return labels
