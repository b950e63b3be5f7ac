"""hemgpu training checkpoints (src/train/checkpoint.ts, checkpoint-verify.ts, weights.ts) to and
from the PyTorch twin.

A checkpoint is a safetensors file: 'param.<name>' and 'buffer.<name>' in hemgpu's layout
(conv weights [k, k, in, out]; PyTorch's are [out, in, k, k]), 'optim.<group>.<index>.<state>'
(shaped like its parameter, so conv-shaped ones are permuted too), and string metadata: kind
'hemgpu-segnet', version '2', step, flags (the TrainConfig as JSON), history, changes, optimizer
(hyper-parameters, shapes and step counts as JSON), model (the parameter list) and checksums
(CRC-32 of every tensor's bytes and of the other metadata). Every conversion is a permutation of
float32 values, so weights survive hemgpu → PyTorch → hemgpu bit for bit, and a checkpoint loaded
and saved without training is the same file byte for byte.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

from . import jsjson, safetensors_io, settings
from .model import SegNet, hemgpu_entries

KIND = "hemgpu-segnet"
VERSION = "2"
READABLE_VERSIONS = ("1", "2")

TRAIN_CONFIG_FIELDS = settings.TRAIN_CONFIG_FIELDS
CONFIG_KEYS = [f[0] for f in TRAIN_CONFIG_FIELDS]


def crc32_hex(b: bytes) -> str:
    return "%08x" % (zlib.crc32(b) & 0xFFFFFFFF)


def metadata_text(meta: "dict[str, str]") -> str:
    """The metadata's canonical text for its checksum: every field but 'checksums', sorted by key."""
    return jsjson.dumps([[k, meta[k]] for k in sorted(meta) if k != "checksums"])


def with_absent_fields(config: dict) -> dict:
    out = dict(config)
    for k, _, _, absent in TRAIN_CONFIG_FIELDS:
        if k not in out and absent is not None:
            out[k] = absent
    return out


def config_in_order(config: dict) -> "OrderedDict[str, object]":
    """The TrainConfig fields only, in hemgpu's order, as hemgpu's JSON.stringify(pickTrainConfig(config))
    writes them: a field with an absent value (newer than the checkpoint, e.g. basesAverage) that
    the config lacks is left out, as JSON.stringify leaves out an undefined one; any other missing
    field is an error. A run's config (Checkpoint.config: absent fields filled in, as hemgpu's
    TrainingRun fills them) is written whole; a checkpoint's stored flags (Checkpoint.stored_config)
    come back as they were."""
    missing = [k for k, _, _, absent in TRAIN_CONFIG_FIELDS if k not in config and absent is None]
    if missing:
        raise ValueError(f"checkpoint: the training config lacks {', '.join(missing)}.")
    return OrderedDict((k, config[k]) for k in CONFIG_KEYS if k in config)


def config_changes(saved: dict, config: dict, step: int) -> list:
    """Training fields that differ, as hemgpu records them in 'changes' ({step, flag, old, new})."""
    return [OrderedDict(step=step, flag=flag, old=saved.get(k), new=config.get(k))
            for k, flag, training, _ in TRAIN_CONFIG_FIELDS if training and saved.get(k) != config.get(k)]


@dataclass
class Checkpoint:
    path: str
    tensors: "OrderedDict[str, np.ndarray]"
    metadata: "OrderedDict[str, str]"
    step: int
    # The training config with the fields newer than the checkpoint at the values their absence
    # means (as hemgpu's verifyCheckpoint gives it): what it trained with, what a resumed run uses.
    config: dict
    history: dict
    changes: list = field(default_factory=list)
    checksummed: bool = True
    # The 'flags' metadata as stored (absent fields absent): what writes the file back unchanged.
    stored_config: dict = field(default_factory=dict)

    @property
    def optimizer_meta(self) -> dict:
        return json.loads(self.metadata["optimizer"], object_pairs_hook=OrderedDict)


def _json_field(path: str, meta: dict, name: str):
    if name not in meta:
        raise ValueError(f"{path}: metadata '{name}' is missing; nothing was loaded.")
    try:
        return json.loads(meta[name], object_pairs_hook=OrderedDict)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: metadata '{name}' is not JSON; nothing was loaded.") from None


def verify(path: str, tensors: dict, meta: dict) -> Checkpoint:
    """hemgpu's verifyCheckpoint: kind, version, checksums (version 2), step, JSON fields, finite tensors."""
    if meta.get("kind") != KIND:
        raise ValueError(f"{path}: not a hemgpu training checkpoint (metadata kind {meta.get('kind')!r}).")
    if meta.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path}: checkpoint format version {meta.get('version')!r}; this reads {' and '.join(READABLE_VERSIONS)}.")
    checksummed = meta["version"] != "1"
    if checksummed:
        sums = _json_field(path, meta, "checksums")
        want = crc32_hex(metadata_text(meta).encode("utf-8"))
        if sums.get("__metadata__") != want:
            raise ValueError(f"{path}: checksum mismatch in the metadata (stored {sums.get('__metadata__')}, computed {want}): the header is corrupt.")
        for k in sums:
            if k != "__metadata__" and k not in tensors:
                raise ValueError(f"{path}: the checksums name a tensor '{k}' the file does not hold.")
        for k, a in tensors.items():
            got = crc32_hex(safetensors_io.tensor_bytes(a))
            if sums.get(k) != got:
                raise ValueError(f"{path}: checksum mismatch in tensor '{k}' (stored {sums.get(k)}, computed {got}): the payload is corrupt.")
    step = meta.get("step", "")
    if not step.isdigit():
        raise ValueError(f"{path}: metadata 'step' is {step!r}; expected an integer ≥ 0 as a string.")
    for k in ("optimizer", "model"):
        if k not in meta:
            raise ValueError(f"{path}: metadata '{k}' is missing.")
    stored_config = _json_field(path, meta, "flags")
    if not isinstance(stored_config, dict):
        raise ValueError(f"{path}: metadata 'flags' must be a JSON object (the training config); nothing was loaded.")
    config = with_absent_fields(stored_config)
    history = _json_field(path, meta, "history")
    changes = _json_field(path, meta, "changes") if checksummed else []
    for k, a in tensors.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{path}: tensor '{k}' is not finite; a checkpoint must be. Nothing was loaded.")
    return Checkpoint(path, OrderedDict(tensors), OrderedDict(meta), int(step), config, history, changes, checksummed, stored_config)


def read_checkpoint(path: str) -> Checkpoint:
    tensors, meta = safetensors_io.read(path)
    return verify(path, tensors, meta)


# ---------------------------------------------------------------------------------------------
# Layouts: pure permutations, no arithmetic


def to_hemgpu(t: torch.Tensor, conv: bool) -> np.ndarray:
    """A PyTorch tensor as hemgpu stores it: conv weights [out, in, kh, kw] → [kh, kw, in, out]."""
    t = t.detach().to("cpu", torch.float32)
    return (t.permute(2, 3, 1, 0) if conv else t).contiguous().numpy()


def from_hemgpu(a: np.ndarray, conv: bool) -> torch.Tensor:
    """A stored tensor in PyTorch's layout, in memory of its own (never a view of the file's arrays)."""
    t = torch.from_numpy(np.array(a, dtype=np.float32, copy=True))
    return (t.permute(3, 2, 0, 1) if conv else t).contiguous()


def hemgpu_shape(t: torch.Tensor, conv: bool) -> list:
    s = list(t.shape)
    return [s[2], s[3], s[1], s[0]] if conv else s


def describe_model(model) -> str:
    """The 'model' metadata: every parameter as name[shape] in hemgpu's order and layout."""
    params, _ = hemgpu_entries(model)
    return ";".join(f"{n}[{', '.join(map(str, hemgpu_shape(p, c)))}]" for n, p, c in params)


def model_from_checkpoint(ck: Checkpoint, dropout: float = 0.1, iterations: int | None = None,
                          bases_average: str | None = None) -> SegNet:
    """The twin a checkpoint's config describes (input channels and classes read off the weights),
    with its weights and buffers loaded. hemgpu's SegNet always trains with dropout 0.1. The bases
    follow the checkpoint's rule (basesAverage; 'l2norm' when its config predates the field)
    unless `bases_average` names another (a run that changes it, as --allow-change bases-average)."""
    c = ck.config
    stem = ck.tensors.get("param.stem0.conv.weight")
    cls = ck.tensors.get("param.classifier.weight")
    if stem is None or cls is None:
        raise ValueError(f"{ck.path}: no stem0/classifier weights; is this a SegNet checkpoint?")
    model = SegNet(c["model"], in_channels=int(stem.shape[2]), classes=int(cls.shape[3]), channels=c["channels"],
                   bases=c["bases"], eta=c["eta"], iterations=iterations or c["iterations"], width=c["width"],
                   dilation=c["dilation"], em_gamma=c["emGamma"], dropout=dropout,
                   bases_average=bases_average or c["basesAverage"])
    load_weights(ck, model)
    return model


def load_weights(ck: Checkpoint, model) -> None:
    """Parameters and buffers into the twin; everything is checked before anything is written."""
    if ck.metadata.get("model") != describe_model(model):
        raise ValueError(f"{ck.path}: the checkpoint's parameters ({ck.metadata.get('model', '')[:120]}…) do not match this model's; nothing was loaded.")
    params, buffers = hemgpu_entries(model)
    todo = []
    for kind, entries in (("param", params), ("buffer", buffers)):
        for name, t, conv in entries:
            a = ck.tensors.get(f"{kind}.{name}")
            if a is None or a.dtype != np.float32 or list(a.shape) != hemgpu_shape(t, conv):
                raise ValueError(f"{ck.path}: {kind} '{name}' {hemgpu_shape(t, conv)} is missing or has another shape; nothing was loaded.")
            todo.append((t, from_hemgpu(a, conv)))
    with torch.no_grad():
        for t, v in todo:
            t.copy_(v)


# ---------------------------------------------------------------------------------------------
# Optimizers: hemgpu's makeOptimizer groups and its state layout


def optimizer_groups(model) -> list:
    """hemgpu's two groups: weights (decay) and norms and biases (no decay), as (name, param, conv)."""
    params, _ = hemgpu_entries(model)
    return [[e for e in params if e[0].endswith(".weight")], [e for e in params if not e[0].endswith(".weight")]]


def make_optimizer(model, config: dict) -> torch.optim.Optimizer:
    """setup.ts makeOptimizer: AdamW (decay 1e-2 on weights) or SGD (momentum 0.9, decay 1e-4)."""
    decay, no_decay = ([p for _, p, _ in g] for g in optimizer_groups(model))
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=config["lr"], betas=(0.9, 0.999), eps=1e-8)
    if config["optimizer"] != "sgd":
        raise ValueError(f"unknown optimizer {config['optimizer']!r}; use sgd or adamw.")
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                           lr=config["lr"], momentum=0.9)


def optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """optimizer.step(), counting each updated parameter's steps as hemgpu does (SGD keeps none)."""
    optimizer.step()
    if isinstance(optimizer, torch.optim.SGD):
        for g in optimizer.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    st = optimizer.state[p]
                    st["hemgpu_step"] = st.get("hemgpu_step", 0) + 1


def _kind(optimizer) -> tuple[str, list]:
    if isinstance(optimizer, torch.optim.AdamW):
        return "AdamW", ["exp_avg", "exp_avg_sq"]
    if isinstance(optimizer, torch.optim.SGD):
        return "SGD", ["momentum_buffer"]
    raise TypeError(f"hemgpu checkpoints hold SGD or AdamW state, not {type(optimizer).__name__}.")


def _step_of(optimizer, p) -> int:
    st = optimizer.state.get(p, {})
    s = st.get("step", st.get("hemgpu_step", 0))
    return int(s.item() if torch.is_tensor(s) else s)


def optimizer_state(optimizer, model) -> tuple["OrderedDict[str, np.ndarray]", "OrderedDict"]:
    """The 'optim.*' tensors and the 'optimizer' metadata of hemgpu's Optimizer.state()."""
    name, states = _kind(optimizer)
    groups = optimizer_groups(model)
    tensors: "OrderedDict[str, np.ndarray]" = OrderedDict()
    meta_groups = []
    for gi, (entries, pg) in enumerate(zip(groups, optimizer.param_groups)):
        for s in states:
            for i, (_, p, conv) in enumerate(entries):
                v = optimizer.state.get(p, {}).get(s)
                tensors[f"optim.{gi}.{i}.{s}"] = to_hemgpu(v if v is not None else torch.zeros_like(p), conv)
        if name == "SGD":
            hyper = OrderedDict(lr=pg["lr"], momentum=pg["momentum"], weightDecay=pg["weight_decay"], nesterov=pg["nesterov"])
        else:
            hyper = OrderedDict(lr=pg["lr"], betas=list(pg["betas"]), eps=pg["eps"], weightDecay=pg["weight_decay"])
        params = [OrderedDict(shape=hemgpu_shape(p, conv), step=_step_of(optimizer, p)) for _, p, conv in entries]
        meta_groups.append(OrderedDict(hyper=hyper, params=params))
    return tensors, OrderedDict(optimizer=name, version=1, groups=meta_groups)


def load_optimizer_state(ck: Checkpoint, optimizer, model) -> None:
    """hemgpu's optimizer state (hyper-parameters, step counts, moments or momentum) into `optimizer`,
    built by make_optimizer over the same model; everything is checked before anything changes."""
    name, states = _kind(optimizer)
    meta = ck.optimizer_meta
    if meta.get("optimizer") != name or meta.get("version") != 1:
        raise ValueError(f"{ck.path}: the optimizer state is {meta.get('optimizer')} (version {meta.get('version')}), not {name}.")
    groups = optimizer_groups(model)
    if len(meta["groups"]) != len(groups) or len(optimizer.param_groups) != len(groups):
        raise ValueError(f"{ck.path}: the optimizer state has {len(meta['groups'])} groups; this optimizer has {len(groups)}.")
    plan = []
    for gi, (entries, mg) in enumerate(zip(groups, meta["groups"])):
        if len(mg["params"]) != len(entries):
            raise ValueError(f"{ck.path}: optimizer group {gi} has {len(mg['params'])} parameters in the state, {len(entries)} here.")
        for i, ((pname, p, conv), sp) in enumerate(zip(entries, mg["params"])):
            if list(sp["shape"]) != hemgpu_shape(p, conv):
                raise ValueError(f"{ck.path}: optimizer group {gi} parameter {i} ({pname}) is {sp['shape']} in the state, {hemgpu_shape(p, conv)} here.")
            vals = {}
            for s in states:
                a = ck.tensors.get(f"optim.{gi}.{i}.{s}")
                if a is None or list(a.shape) != list(sp["shape"]):
                    raise ValueError(f"{ck.path}: the state has no tensor 'optim.{gi}.{i}.{s}' of shape {sp['shape']}.")
                vals[s] = from_hemgpu(a, conv).to(p.device)
            plan.append((gi, p, int(sp["step"]), vals))
    for pg, mg in zip(optimizer.param_groups, meta["groups"]):
        h = mg["hyper"]
        pg["lr"], pg["weight_decay"] = h["lr"], h["weightDecay"]
        if name == "SGD":
            pg["momentum"], pg["nesterov"] = h["momentum"], h["nesterov"]
        else:
            pg["betas"], pg["eps"] = tuple(h["betas"]), h["eps"]
    for _, p, step, vals in plan:
        optimizer.state.pop(p, None)
        if step == 0:
            continue  # never updated: PyTorch starts its state at the first step, from zeros as hemgpu's
        if name == "SGD":
            optimizer.state[p] = {"momentum_buffer": vals["momentum_buffer"], "hemgpu_step": step}
        else:
            optimizer.state[p] = {"step": torch.tensor(float(step)), "exp_avg": vals["exp_avg"], "exp_avg_sq": vals["exp_avg_sq"]}


# ---------------------------------------------------------------------------------------------
# Writing


def checkpoint_bytes(model, optimizer, step: int, config: dict, history: dict, changes: list | None = None) -> bytes:
    """hemgpu's saveWeights: the .safetensors bytes of a run's state, checked finite, sealed with
    checksums, then decoded and verified again before they are returned."""
    tensors: "OrderedDict[str, np.ndarray]" = OrderedDict()
    params, buffers = hemgpu_entries(model)
    for n, t, conv in params:
        tensors[f"param.{n}"] = to_hemgpu(t, conv)
    for n, t, conv in buffers:
        tensors[f"buffer.{n}"] = to_hemgpu(t, conv)
    opt_tensors, opt_meta = optimizer_state(optimizer, model)
    tensors.update(opt_tensors)
    for k, a in tensors.items():
        if not np.isfinite(a).all():
            raise ValueError(f"step {step}: tensor '{k}' is not finite; the checkpoint was not written.")
    meta = OrderedDict(
        kind=KIND, version=VERSION, step=str(int(step)),
        flags=jsjson.dumps(config_in_order(config)),
        history=jsjson.dumps(history),
        changes=jsjson.dumps(changes or []),
        optimizer=jsjson.dumps(opt_meta),
        model=describe_model(model),
    )
    sums = OrderedDict(__metadata__=crc32_hex(metadata_text(meta).encode("utf-8")))
    for k, a in tensors.items():
        sums[k] = crc32_hex(safetensors_io.tensor_bytes(a))
    meta["checksums"] = jsjson.dumps(sums)
    data = safetensors_io.encode(tensors, meta)
    verify("checkpoint_bytes", *safetensors_io.decode(data, "checkpoint_bytes"))
    return data


def save_checkpoint(path: str, model, optimizer, step: int, config: dict, history: dict, changes: list | None = None) -> None:
    """Write a hemgpu checkpoint atomically (temporary file, fsync, rename): `hemgpu eval` and
    `hemgpu train --resume` read it."""
    safetensors_io.write_atomic(path, checkpoint_bytes(model, optimizer, step, config, history, changes))
