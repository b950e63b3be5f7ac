#!/usr/bin/env python3
"""Parity of the PyTorch twin with hemgpu, on the files `scripts/twin-parity.ts export` wrote.

Per case (DIR/cases.json: hemnet, emanet, pooling, plain × SGD, AdamW with the bases' plain moving
average, hemnet-sgd-l2norm with the old rule, emanet-adamw-absent with the old rule and a stored
config from before the field), from hemgpu's checkpoint before the step:
  logits, loss   the training-mode forward on the same batch (batch statistics, the EM bases'
                 update), against hemgpu's;
  grads          every parameter's gradient (a parameter hemgpu gives none must get none);
  grads f64      hemgpu's gradients against the twin's computed in float64 (the exact gradient of
                 the twin's model, up to float64 rounding); a gradient that is zero in exact
                 arithmetic there (pooling's em.conv1.bias, often) is compared by size in both
                 rows (rounding noise on both sides, against the largest gradient) and its
                 parameter left out of the train step, whose AdamW step that noise drives;
  step           the weights and the optimizer state after one step of PyTorch's own SGD / AdamW,
                 on hemgpu's gradients and on the twin's own (train step), against hemgpu's
                 checkpoint after it;
  buffers        BN running statistics and the bases μ⁽⁰⁾ after the forward (the moving
                 averages, μ⁽⁰⁾'s by the rule the checkpoint's config names);
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

Negative controls, for the check itself (they write nothing, and every case they run must fail):
--perturb eta runs the hemnet cases with the twin's η off by 0.05; --perturb bases-average runs the
cases with an EM unit with the twin's moving average of μ⁽⁰⁾ by the other rule (plain ↔ l2norm).
Exit status 0 when every check holds, 1 otherwise; the last line of a failing run says how many
cases failed ("parity: K of N cases fail").
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
from hemgpu_twin.model import BASES_AVERAGES, SEG_MODELS, hemgpu_entries  # noqa: E402
from hemgpu_twin.training import learning_rate, segmentation_loss, set_lr  # noqa: E402

PERTURBATIONS = ("eta", "bases-average")
# Tolerances of the error measure above, per column. Gradients are sums over every pixel taken in
# another order in float32 (through batch norm's backward and EMANet's nearly one-hot attention),
# and some are small differences of large sums: pooling's em.conv2.weight is a difference of the
# two images' sums (batch norm removes their mean), which PyTorch's float32 CPU kernels leave
# 1.4e-3 off the float64 twin's (hemgpu 1.0e-4). So 3e-3 for the twin's float32 gradients against
# hemgpu's ('grads') and for the step taken with them ('train step': AdamW divides each gradient
# element by its own running RMS, so an element whose gradient is small carries that rounding into
# the step at full size), and 1e-3 for hemgpu's gradients against the twin's in float64 ('grads
# f64': the exact gradient of the twin's model, so only hemgpu's rounding is left: at most 1.5e-4).
# 1e-5 for the optimizer alone: the same gradients and state, a few float32 roundings per element
# (a weight decay off by half moves AdamW's step by 4e-5).
TOL = OrderedDict([("logits", 1e-4), ("loss", 1e-4), ("grads", 3e-3), ("grads f64", 1e-3), ("step", 1e-5), ("train step", 3e-3),
                   ("buffers", 1e-4), ("eval", 1e-4)])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    m = float(np.max(np.abs(b))) if b.size else 0.0
    return d / m if m > 0 else d


def worst(pairs, noise: "dict[str, float] | None" = None) -> tuple[float, str]:
    """The largest error of (name, twin, hemgpu) triples and the tensor it is in. A tensor named in
    `noise` (name → scale) is zero in exact arithmetic: both sides must be rounding noise, so its
    error is the larger of their max |·| over the scale (at least the usual error's numerator)."""
    best = (0.0, "-")
    for name, a, b in pairs:
        if a is None or b is None:
            if a is not b:
                return float("inf"), f"{name} (a gradient on one side only)"
            continue
        if tuple(np.shape(a)) != tuple(np.shape(b)):
            return float("inf"), f"{name} (shape {np.shape(a)} vs {np.shape(b)})"
        if noise and name in noise:
            e = max(float(np.max(np.abs(a))), float(np.max(np.abs(b)))) / noise[name]
        else:
            e = rel(a, b)
        if e > best[0] or best[1] == "-":
            best = (e, name)
    return best


# A gradient whose max |g| in the float64 twin is below this share of the largest gradient's is
# zero in exact arithmetic (float64 leaves ~1e-16 of the terms; a real gradient is far above).
EXACT_ZERO = 1e-10


def twin(init: ckpt.Checkpoint, perturb: str | None, rule: str) -> torch.nn.Module:
    """The twin loaded from `init` (dropout off), broken on purpose if `perturb` says so."""
    model = ckpt.model_from_checkpoint(init, dropout=0.0)
    if perturb == "eta":
        model.em.em.eta += 0.05
    elif perturb == "bases-average":
        model.em.em.bases_average = next(a for a in BASES_AVERAGES if a != rule)
    return model


def float64_gradients(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> "dict[str, np.ndarray | None]":
    """Every parameter's gradient on the batch from the twin run in float64, in hemgpu's layout:
    the exact gradient of the twin's model up to float64 rounding. hemgpu's float32 gradients are
    measured against it ('grads f64'), and it tells the gradients that are zero in exact arithmetic.
    'pooling' can have one: its EM unit returns one vector per image (γ = 1 at every pixel), so
    em.conv1.bias only shifts that vector, and when relu(μ⁽ᵀ⁾) has the same sign pattern in every
    image of the batch the shift reaches em.bn as one constant at every pixel of the batch, which
    the norm's batch statistics remove. Both engines then compute rounding noise there (and AdamW,
    dividing it by its own RMS, turns it into steps of the learning rate's size, in hemgpu too)."""
    m = model.double().train()
    segmentation_loss(m(x.double()), labels).backward()
    return {n: None if p.grad is None else (p.grad.detach().permute(2, 3, 1, 0) if c else p.grad.detach()).contiguous().numpy()
            for n, p, c in hemgpu_entries(m)[0]}


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def round_trip(c: ckpt.Checkpoint, data: bytes) -> tuple[bytes, int]:
    """The checkpoint through the twin and back; returns the bytes and the number of tensors whose
    bits differ (every one compared), plus one if the metadata differs."""
    model = ckpt.model_from_checkpoint(c)
    opt = ckpt.make_optimizer(model, c.config)
    ckpt.load_optimizer_state(c, opt, model)
    # The flags as stored: a config from before a field (basesAverage) comes back without it.
    out = ckpt.checkpoint_bytes(model, opt, c.step, c.stored_config, c.history, c.changes)
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

    # The rule the case trained with ('absent': the config predates the field, so the old one).
    rule = "l2norm" if case["basesAverage"] == "absent" else case["basesAverage"]
    if init.config["basesAverage"] != rule or ("basesAverage" in init.stored_config) == (case["basesAverage"] == "absent"):
        raise AssertionError(f"{folder}: the checkpoint's config reads basesAverage {init.config['basesAverage']!r} "
                             f"(stored: {init.stored_config.get('basesAverage', 'absent')!r}); the case is {case['basesAverage']!r}")
    model = ckpt.model_from_checkpoint(init, dropout=0.0)
    if model.em is not None and model.em.em.bases_average != rule:
        raise AssertionError(f"{folder}: the twin's bases follow {model.em.em.bases_average!r}, the case {rule!r}")
    model = twin(init, perturb, rule)
    opt = ckpt.make_optimizer(model, init.config)
    ckpt.load_optimizer_state(init, opt, model)
    model.train()
    x = torch.from_numpy(ex["x"]).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(ex["labels"]).long()
    logits = model(x)
    loss = segmentation_loss(logits, labels)
    r["logits"] = (rel(logits.detach().permute(0, 2, 3, 1).numpy(), ex["logits"]), "")
    r["loss"] = (abs(loss.item() - float(ex["loss"][0])) / abs(float(ex["loss"][0])), "")
    loss.backward()
    params, buffers = hemgpu_entries(model)
    # A gradient that is zero in exact arithmetic is compared by size (both sides must be rounding
    # noise, against the largest gradient: the scale of the others' rounding), and its parameter is
    # left out of the train step, whose AdamW step and state that noise drives (float64_gradients).
    exact = float64_gradients(twin(init, perturb, rule), x, labels)
    size = {n: float(np.max(np.abs(g))) for n, g in exact.items() if g is not None}
    top = max(size.values())
    noise = {n: top for n, g in size.items() if g <= EXACT_ZERO * top}
    r["grads"] = worst(((n, None if p.grad is None else ckpt.to_hemgpu(p.grad, c), ex.get(f"grad.{n}")) for n, p, c in params), noise)
    r["grads f64"] = worst(((n, ex.get(f"grad.{n}"), g) for n, g in exact.items()), noise)
    r["notes"] = [f"{n}'s gradient is zero in exact arithmetic on this batch (float64 twin: max |g| {size[n]:.1e}, the largest "
                  f"gradient's {top:.1e}): hemgpu's ({np.max(np.abs(ex.get(f'grad.{n}', 0))):.1e}) and the twin's are rounding noise, "
                  "compared by size; the parameter is left out of the train step" for n in noise]

    lr = learning_rate(init.config, init.step)
    if abs(lr - case["lr"]) > 1e-12 * abs(case["lr"]):
        raise AssertionError(f"{folder}: the learning rate of step {init.step} is {lr} here, {case['lr']} in hemgpu")

    def after_step(m, o, skip=()) -> tuple[float, str]:
        """The worst error of the weights and the optimizer state after a step (but the parameters
        in `skip` and their state), and the step counts."""
        ps, _ = hemgpu_entries(m)
        state, meta = ckpt.optimizer_state(o, m)
        theirs = stepped.optimizer_meta
        if [[p["step"] for p in g["params"]] for g in meta["groups"]] != [[p["step"] for p in g["params"]] for g in theirs["groups"]]:
            return float("inf"), "per-parameter step counts"
        skipped = {f"optim.{gi}.{i}." for gi, g in enumerate(ckpt.optimizer_groups(m)) for i, e in enumerate(g) if e[0] in skip}
        return worst([(n, ckpt.to_hemgpu(p, c), stepped.tensors[f"param.{n}"]) for n, p, c in ps if n not in skip]
                     + [(k, v, stepped.tensors[k]) for k, v in state.items() if k[:k.rindex(".") + 1] not in skipped])

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
    r["train step"] = after_step(model, opt, noise)
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
    ap.add_argument("--perturb", choices=PERTURBATIONS, help="break the twin on purpose: the check must fail")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    t0 = time.time()
    with open(os.path.join(args.dir, "cases.json")) as f:
        every = json.load(f)
    metas = {}
    for name in every:
        _, meta = safetensors_io.read(os.path.join(args.dir, name, "expect.safetensors"))
        metas[name] = json.loads(meta["case"])
    # The export must cover every model and both rules (the old one also as a config without the field).
    lacking = sorted(set(SEG_MODELS) - {m["model"] for m in metas.values()}) + sorted(
        set(BASES_AVERAGES + ("absent",)) - {m["basesAverage"] for m in metas.values()})
    if lacking:
        print(f"parity FAILED: the export has no case for {', '.join(lacking)} ({args.dir}/cases.json: {', '.join(every)})", file=sys.stderr)
        return 1
    if args.perturb == "eta":
        cases = [n for n in every if metas[n]["model"] == "hemnet"]
    elif args.perturb == "bases-average":
        cases = [n for n in every if metas[n]["model"] != "plain"]
    else:
        cases = every
    cols = list(TOL) + ["round trip"]
    print(f"PyTorch {torch.__version__}; error = max|twin − hemgpu| / max|hemgpu| per tensor (worst tensor), tolerances "
          + ", ".join(f"{k} {v:g}" for k, v in TOL.items()) + "; round trip: tensors (or metadata) whose bits differ")
    print("| case | " + " | ".join(cols) + " |")
    print("| --- " * (len(cols) + 1) + "|")
    failures = []
    notes = []
    failed_cases = 0
    for name in cases:
        r = run_case(os.path.join(args.dir, name), args.perturb)
        before = len(failures)
        cells = []
        notes += [f"{name}: {n}" for n in r.pop("notes")]
        for k in cols:
            v, where = r[k]
            ok = v == 0 if k == "round trip" else v <= TOL[k]
            cells.append(f"{v:.2e}" if k != "round trip" else f"{v} ({where})")
            if not ok or (k == "round trip" and where != "byte-identical"):
                cells[-1] = "**" + cells[-1] + "** FAIL"
                failures.append(f"{name}: {k} {v:.3g}" + (f" in {where}" if where else "") + (f" > {TOL[k]:g}" if k in TOL else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
        failed_cases += len(failures) > before
    for n in notes:
        print(f"note: {n}")
    if args.cli_checkpoint:
        failures += cli_checkpoint(args.cli_checkpoint)
    print(f"parity: {len(cases)} cases in {time.time() - t0:.1f} s")
    if failures:
        print("parity FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        print(f"parity: {failed_cases} of {len(cases)} cases fail")
        return 1
    print("parity: every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
