#!/usr/bin/env python3
"""Parity of the PyTorch twin with hemgpu, on the files `scripts/twin-parity.ts export` wrote.

Per case (hemnet, emanet, plain × SGD, AdamW), from hemgpu's checkpoint before the step:
  logits, loss   the training-mode forward on the same batch (batch statistics, the EM bases'
                 update), against hemgpu's;
  grads          every parameter's gradient (a parameter hemgpu gives none must get none);
  step           the weights, the buffers (BN running statistics, μ⁽⁰⁾) and the optimizer state
                 after one step of PyTorch's own SGD / AdamW, against hemgpu's checkpoint after it;
  eval logits    the eval-mode forward of hemgpu's stepped checkpoint loaded into the twin;
  round trip     hemgpu's stepped checkpoint → twin (model + optimizer) → checkpoint: every tensor
                 bit-exact and the whole file byte-identical (written as roundtrip.safetensors).
The twin's own step is saved as torch-stepped.safetensors; `twin-parity.ts verify` loads both
into hemgpu. Error measure, per tensor: max|twin − hemgpu| / max|hemgpu| (the largest over the
tensors of a row); the loss: |twin − hemgpu| / |hemgpu|. Dropout is off (p = 0): the two engines'
random masks cannot agree.

With --cli-checkpoint PATH (a checkpoint `hemgpu train` wrote): its round trip, and one PyTorch
step from it with --steps raised by one (recorded in 'changes'), saved as torch-step.safetensors
beside it for `hemgpu train --resume`.

--perturb eta runs the hemnet cases with the twin's η off by 0.05 (and writes nothing): it must
fail, a negative control for the check itself. Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hemgpu_twin import checkpoint as ckpt  # noqa: E402
from hemgpu_twin import safetensors_io  # noqa: E402
from hemgpu_twin.model import hemgpu_entries  # noqa: E402
from hemgpu_twin.training import learning_rate, segmentation_loss, set_lr  # noqa: E402

CASES = [f"{m}-{o}" for m in ("hemnet", "emanet", "plain") for o in ("sgd", "adamw")]
# Tolerances of the error measure above, per column. 1e-3 for two: gradients are sums over every
# pixel taken in another order in float32 (through batch norm's backward and EMANet's nearly
# one-hot attention), and AdamW divides each gradient element by its own running RMS, so an
# element whose gradient is small carries that rounding into the step at full size. 1e-5 for the
# optimizer alone: the same gradients and state, a few float32 roundings per element (a weight
# decay off by half moves AdamW's step by 4e-5).
TOL = OrderedDict([("logits", 1e-4), ("loss", 1e-4), ("grads", 1e-3), ("step", 1e-5), ("train step", 1e-3),
                   ("buffers", 1e-4), ("eval", 1e-4)])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    m = float(np.max(np.abs(b))) if b.size else 0.0
    return d / m if m > 0 else d


def worst(pairs) -> tuple[float, str]:
    """The largest error of (name, twin, hemgpu) triples and the tensor it is in."""
    best = (0.0, "-")
    for name, a, b in pairs:
        if a is None or b is None:
            if a is not b:
                return float("inf"), f"{name} (a gradient on one side only)"
            continue
        if tuple(np.shape(a)) != tuple(np.shape(b)):
            return float("inf"), f"{name} (shape {np.shape(a)} vs {np.shape(b)})"
        e = rel(a, b)
        if e > best[0] or best[1] == "-":
            best = (e, name)
    return best


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def round_trip(c: ckpt.Checkpoint, data: bytes) -> tuple[bytes, int]:
    """The checkpoint through the twin and back; returns the bytes and the number of tensors whose
    bits differ (every one compared), plus one if the metadata differs."""
    model = ckpt.model_from_checkpoint(c)
    opt = ckpt.make_optimizer(model, c.config)
    ckpt.load_optimizer_state(c, opt, model)
    out = ckpt.checkpoint_bytes(model, opt, c.step, c.config, c.history, c.changes)
    tensors, meta = safetensors_io.decode(out)
    differ = sum(1 for k, a in c.tensors.items() if k not in tensors or not np.array_equal(bits(a), bits(tensors[k])))
    differ += sum(1 for k in tensors if k not in c.tensors)
    if dict(meta) != dict(c.metadata):
        differ += 1
    return out, differ


def run_case(folder: str, perturb: str | None) -> OrderedDict:
    init = ckpt.read_checkpoint(os.path.join(folder, "init.safetensors"))
    stepped_path = os.path.join(folder, "stepped.safetensors")
    stepped = ckpt.read_checkpoint(stepped_path)
    ex, exmeta = safetensors_io.read(os.path.join(folder, "expect.safetensors"))
    case = json.loads(exmeta["case"])
    r: OrderedDict = OrderedDict()

    model = ckpt.model_from_checkpoint(init, dropout=0.0)
    opt = ckpt.make_optimizer(model, init.config)
    ckpt.load_optimizer_state(init, opt, model)
    if perturb == "eta":
        model.em.em.eta += 0.05
    model.train()
    x = torch.from_numpy(ex["x"]).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(ex["labels"]).long()
    logits = model(x)
    loss = segmentation_loss(logits, labels)
    r["logits"] = (rel(logits.detach().permute(0, 2, 3, 1).numpy(), ex["logits"]), "")
    r["loss"] = (abs(loss.item() - float(ex["loss"][0])) / abs(float(ex["loss"][0])), "")
    loss.backward()
    params, buffers = hemgpu_entries(model)
    r["grads"] = worst((n, None if p.grad is None else ckpt.to_hemgpu(p.grad, c), ex.get(f"grad.{n}")) for n, p, c in params)

    lr = learning_rate(init.config, init.step)
    if abs(lr - case["lr"]) > 1e-12 * abs(case["lr"]):
        raise AssertionError(f"{folder}: the learning rate of step {init.step} is {lr} here, {case['lr']} in hemgpu")

    def after_step(m, o) -> tuple[float, str]:
        """The worst error of the weights and the optimizer state after a step, and the step counts."""
        ps, _ = hemgpu_entries(m)
        state, meta = ckpt.optimizer_state(o, m)
        theirs = stepped.optimizer_meta
        if [[p["step"] for p in g["params"]] for g in meta["groups"]] != [[p["step"] for p in g["params"]] for g in theirs["groups"]]:
            return float("inf"), "per-parameter step counts"
        return worst([(n, ckpt.to_hemgpu(p, c), stepped.tensors[f"param.{n}"]) for n, p, c in ps]
                     + [(k, v, stepped.tensors[k]) for k, v in state.items()])

    # The optimizer alone: PyTorch's SGD / AdamW on hemgpu's gradients, from hemgpu's state.
    alone = ckpt.model_from_checkpoint(init, dropout=0.0)
    alone_opt = ckpt.make_optimizer(alone, init.config)
    ckpt.load_optimizer_state(init, alone_opt, alone)
    for n, p, c in hemgpu_entries(alone)[0]:
        g = ex.get(f"grad.{n}")
        p.grad = None if g is None else ckpt.from_hemgpu(g, c)
    set_lr(alone_opt, lr)
    ckpt.optimizer_step(alone_opt)
    r["step"] = after_step(alone, alone_opt)

    # The whole training step: the twin's own gradients.
    set_lr(opt, lr)
    ckpt.optimizer_step(opt)
    r["train step"] = after_step(model, opt)
    r["buffers"] = worst((n, ckpt.to_hemgpu(b, c), stepped.tensors[f"buffer.{n}"]) for n, b, c in buffers)
    history = json.loads(json.dumps(init.history))
    history["loss"].append(loss.item())
    history["lr"].append(lr)
    mine = ckpt.checkpoint_bytes(model, opt, init.step + 1, init.config, history, init.changes)
    if not perturb:
        safetensors_io.write_atomic(os.path.join(folder, "torch-stepped.safetensors"), mine)

    evaluated = ckpt.model_from_checkpoint(stepped, dropout=0.0).eval()
    with torch.no_grad():
        r["eval"] = (rel(evaluated(x).permute(0, 2, 3, 1).numpy(), ex["eval_logits"]), "")

    with open(stepped_path, "rb") as f:
        original = f.read()
    back, differ = round_trip(stepped, original)
    if not perturb:
        safetensors_io.write_atomic(os.path.join(folder, "roundtrip.safetensors"), back)
    r["round trip"] = (differ, "byte-identical" if back == original else "FILE DIFFERS")
    return r


def cli_checkpoint(path: str) -> list[str]:
    """Round trip of a `hemgpu train` checkpoint, then one PyTorch step from it (torch-step.safetensors)."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, "rb") as f:
        original = f.read()
    c = ckpt.verify(path, *safetensors_io.decode(original, path))
    back, differ = round_trip(c, original)
    safetensors_io.write_atomic(os.path.join(folder, "roundtrip.safetensors"), back)
    failures = []
    if differ or back != original:
        failures.append(f"{path}: the round trip changed {differ} tensor(s) or the file")
    model = ckpt.model_from_checkpoint(c)
    opt = ckpt.make_optimizer(model, c.config)
    ckpt.load_optimizer_state(c, opt, model)
    config = dict(c.config, steps=c.config["steps"] + 1)
    changes = list(c.changes) + ckpt.config_changes(c.config, config, c.step)
    g = torch.Generator().manual_seed(1)
    n, size, cin = 2, config["size"], model.config["in_channels"]
    x = torch.rand(n, cin, size, size, generator=g)
    labels = torch.randint(0, model.config["classes"], (n, size, size), generator=g)
    lr = learning_rate(config, c.step)
    set_lr(opt, lr)
    model.train()
    loss = segmentation_loss(model(x), labels)
    loss.backward()
    ckpt.optimizer_step(opt)
    history = json.loads(json.dumps(c.history))
    history["loss"].append(loss.item())
    history["lr"].append(lr)
    out = os.path.join(folder, "torch-step.safetensors")
    ckpt.save_checkpoint(out, model, opt, c.step + 1, config, history, changes)
    print(f"{path}: round trip {'byte-identical' if back == original else 'DIFFERS'} ({len(original)} bytes, "
          f"{len(c.tensors)} tensors bit-exact: {differ == 0}); one PyTorch step (loss {loss.item():.5f}) → {out}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="the folder `twin-parity.ts export --out` wrote")
    ap.add_argument("--cli-checkpoint", help="a checkpoint from `hemgpu train` to round-trip and continue one step")
    ap.add_argument("--perturb", choices=["eta"], help="break the twin on purpose: the check must fail")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    t0 = time.time()
    cases = [c for c in CASES if args.perturb != "eta" or c.startswith("hemnet")]
    cols = list(TOL) + ["round trip"]
    print(f"PyTorch {torch.__version__}; error = max|twin − hemgpu| / max|hemgpu| per tensor (worst tensor), tolerances "
          + ", ".join(f"{k} {v:g}" for k, v in TOL.items()) + "; round trip: tensors (or metadata) whose bits differ")
    print("| case | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 1) + "|")
    failures = []
    for name in cases:
        r = run_case(os.path.join(args.dir, name), args.perturb)
        cells = []
        for k in cols:
            v, where = r[k]
            ok = v == 0 if k == "round trip" else v <= TOL[k]
            cells.append(f"{v:.2e}" if k != "round trip" else f"{v} ({where})")
            if not ok or (k == "round trip" and where != "byte-identical"):
                cells[-1] = "**" + cells[-1] + "** FAIL"
                failures.append(f"{name}: {k} {v:.3g}" + (f" in {where}" if where else "") + (f" > {TOL[k]:g}" if k in TOL else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.cli_checkpoint:
        failures += cli_checkpoint(args.cli_checkpoint)
    print(f"parity: {len(cases)} cases in {time.time() - t0:.1f} s")
    if failures:
        print("parity FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("parity: every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
