#!/usr/bin/env python3
"""Data-parallel training of hemgpu's SegNet on PASCAL VOC with PyTorch, from and to hemgpu checkpoints.

    torchrun --nproc_per_node=8 python/train_voc.py --init runs/voc/checkpoint.safetensors \\
        --voc-root VOCdevkit/VOC2012 --out runs/voc-torch --steps 30000 --batch 16 --sync-bn

One process per GPU (NCCL; gloo on CPUs), DistributedDataParallel, a DistributedSampler over the
train split, hemgpu's recipe: its optimizer groups (SGD momentum 0.9 and decay 1e-4, or AdamW
decay 1e-2, none on norms and biases), its warm-up + poly schedule over --steps, cross-entropy
ignoring 255, background sampling (--bg-keep), the moving average of the bases μ⁽⁰⁾ by the rule the
config names (--bases-average: 'plain', the paper's and hemgpu's default, or 'l2norm', hemgpu's old
rule and that of every checkpoint whose config lacks the field; averaged over all processes).
--batch is the global batch (images per step over all processes).

--init continues a hemgpu checkpoint (weights, BN statistics, bases, optimizer state, step,
history) with its stored config; the flags given change it, and each training field that changes
is recorded in the checkpoint's 'changes' as `hemgpu train --resume --allow-change` does. Without
--init a fresh model is built from the flags. Rank 0 writes hemgpu checkpoints atomically
(--out/checkpoint.safetensors) every --checkpoint-every steps, at the end and on SIGINT/SIGTERM, so
`hemgpu eval --checkpoint` and `hemgpu train --resume` continue from them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

from hemgpu_twin import checkpoint as ckpt, settings  # noqa: E402
from hemgpu_twin.model import SegNet  # noqa: E402
from hemgpu_twin.training import learning_rate, sample_background, segmentation_loss, set_lr  # noqa: E402
from hemgpu_twin.voc import VOC_CLASSES, VocSegmentation, mix_seed  # noqa: E402

# hemgpu train's defaults for a fresh run (settings.json); the digit-scene fields are stored unused,
# as hemgpu stores them for a VOC run.
DEFAULTS = dict(settings.DEFAULTS, data="voc")
# The flags the twin takes (hemgpu's names); the shape of the model and the optimizer cannot change
# under --init. The rule of the bases' average can (as `hemgpu train --resume --allow-change bases-average`).
TRAINING_FLAGS = ["steps", "batch", "lr", "warmup", "bg-keep", "seed", "size", "val-scenes", "eval-every", "checkpoint-every", "bases-average"]
MODEL_FLAGS = ["model", "eta", "iterations", "bases", "channels", "width", "dilation", "em-gamma", "optimizer"]
FIELD = {flag: key for key, flag, _, _ in ckpt.TRAIN_CONFIG_FIELDS}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voc-root", required=True, help="VOC directory (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)")
    ap.add_argument("--out", required=True, help="output directory: checkpoint.safetensors, log.jsonl")
    ap.add_argument("--init", help="a hemgpu checkpoint to continue (its config, changed by the flags given)")
    for flag in TRAINING_FLAGS + MODEL_FLAGS:
        s = settings.BY_FLAG[flag]
        help = settings.flag_help(flag) + (" (under --init: the checkpoint's; l2norm if its config predates the field)" if flag == "bases-average" else "")
        ap.add_argument(f"--{flag}", type=settings.flag_type(flag), default=None, choices=settings.choices(s["field"]) if s["kind"] == "choice" else None, help=help)
    ap.add_argument("--mask-dir", default="SegmentationClass", help="mask folder (e.g. SegmentationClassAug)")
    ap.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm: batch statistics over all processes")
    ap.add_argument("--workers", type=int, default=4, help="data loader processes per GPU")
    ap.add_argument("--strict-fp32", action="store_true", help="turn TF32 off for convolutions and matmuls (closer to hemgpu's float32)")
    ap.add_argument("--log-every", type=int, default=20)
    return ap.parse_args()


def build_config(args, loaded):
    """The run's config and the changes to record (hemgpu's field names and flags)."""
    given = {flag: getattr(args, flag.replace("-", "_")) for flag in TRAINING_FLAGS + MODEL_FLAGS}
    given = {flag: v for flag, v in given.items() if v is not None}
    for flag, v in given.items():
        bad = settings.problem(flag, v)
        if bad:
            raise SystemExit(f"train_voc: {bad}")
    if loaded is None:
        config = dict(DEFAULTS)
        base = None
    else:
        config = ckpt.with_absent_fields(dict(loaded.config))
        fixed = [f for f in given if f in MODEL_FLAGS and given[f] != config[FIELD[f]]]
        if fixed:
            raise SystemExit(f"train_voc: --{fixed[0]} {given[fixed[0]]} differs from the checkpoint's {config[FIELD[fixed[0]]]}; "
                             "the model and the optimizer state cannot change under --init.")
        base = dict(config)
    for flag, v in given.items():
        config[FIELD[flag]] = v
    config.update(data="voc", vocRoot=args.voc_root, out=args.out, resume=args.init)
    changes = [] if loaded is None else list(loaded.changes) + ckpt.config_changes(base, config, loaded.step)
    return config, changes


class Stop:
    """SIGINT/SIGTERM: finish the step, save, exit (130 / 143), as `hemgpu train` does."""

    def __init__(self):
        self.code = 0
        signal.signal(signal.SIGINT, lambda *_: self.set(130))
        signal.signal(signal.SIGTERM, lambda *_: self.set(143))

    def set(self, code):
        self.code = self.code or code


@torch.no_grad()
def evaluate(model, data, batch, device, rank, world) -> float:
    """Validation mIoU over the classes present (hemgpu's ConfusionMatrix), the split sharded over processes."""
    was = model.training
    model.eval()
    cm = torch.zeros(VOC_CLASSES * VOC_CLASSES, dtype=torch.float64, device=device)
    idx = list(range(rank, len(data), world))
    for s in range(0, len(idx), batch):
        xs, ls = zip(*(data[i] for i in idx[s:s + batch]))
        pred = model(torch.stack(xs).to(device)).argmax(1)
        lab = torch.stack(ls).to(device)
        keep = lab != 255
        cm += torch.bincount(lab[keep] * VOC_CLASSES + pred[keep], minlength=VOC_CLASSES**2).double()
    if world > 1:
        dist.all_reduce(cm)
    model.train(was)
    m = cm.view(VOC_CLASSES, VOC_CLASSES)
    union = m.sum(0) + m.sum(1) - m.diag()
    iou = m.diag()[union > 0] / union[union > 0]
    return float(iou.mean()) if len(iou) else 0.0


def main() -> int:
    args = parse_args()
    distributed = "RANK" in os.environ
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
        if args.strict_fp32:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    say = print if rank == 0 else (lambda *a, **k: None)

    loaded = ckpt.read_checkpoint(args.init) if args.init else None
    config, changes = build_config(args, loaded)
    if args.sync_bn and not cuda:
        raise SystemExit("train_voc: --sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm runs on GPU modules only).")
    if config["batch"] % world:
        raise SystemExit(f"train_voc: --batch {config['batch']} (images per step over all processes) is not a multiple of the {world} processes.")
    if loaded is not None:
        model = ckpt.model_from_checkpoint(loaded, bases_average=config["basesAverage"])
        if model.config["in_channels"] != 3 or model.config["classes"] != VOC_CLASSES:
            raise SystemExit(f"train_voc: {args.init} holds a model for {model.config['in_channels']} input channels and "
                             f"{model.config['classes']} classes; VOC needs 3 and {VOC_CLASSES} (train it with hemgpu train --data voc).")
        step, history = loaded.step, json.loads(json.dumps(loaded.history))
    else:
        torch.manual_seed(config["seed"])
        model = SegNet(config["model"], 3, VOC_CLASSES, config["channels"], config["bases"], config["eta"], config["iterations"],
                       width=config["width"], dilation=config["dilation"], em_gamma=config["emGamma"],
                       bases_average=config["basesAverage"])
        step, history = 0, {"loss": [], "lr": [], "val": []}
    torch.manual_seed(mix_seed(config["seed"], step, rank, 0xD0))  # each process's dropout masks, reproducibly
    if step >= config["steps"]:
        raise SystemExit(f"train_voc: the checkpoint is at step {step} of {config['steps']}; pass --steps > {step} to train on.")
    if args.sync_bn and distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    optimizer = ckpt.make_optimizer(model, config)
    if loaded is not None:
        ckpt.load_optimizer_state(loaded, optimizer, model)
    # EMANet's EM unit passes no gradient to its first conv (as in hemgpu): DDP must expect that.
    net = DistributedDataParallel(model, device_ids=[local] if cuda else None,
                                  find_unused_parameters=config["model"] == "emanet") if distributed else model

    train = VocSegmentation(args.voc_root, "train", config["size"], augment=True, mask_dir=args.mask_dir, seed=config["seed"])
    val = VocSegmentation(args.voc_root, "val", config["size"], augment=False, mask_dir=args.mask_dir, limit=config["valScenes"])
    per = config["batch"] // world
    sampler = torch.utils.data.distributed.DistributedSampler(train, world, rank, shuffle=True, seed=config["seed"], drop_last=True)
    per_epoch = len(sampler) // per
    if per_epoch == 0:
        raise SystemExit(f"train_voc: {len(train)} training images do not make one batch of {per} on each of {world} processes.")
    path = os.path.join(args.out, "checkpoint.safetensors")
    stop = Stop()

    saved = [step if loaded is not None else -1]

    def save(at: int) -> None:
        if rank == 0:
            ckpt.save_checkpoint(path, model, optimizer, at, config, history, changes)
            say(f"train_voc: step {at}: checkpoint {path}")
        saved[0] = at

    say(f"train_voc: {config['model']} on {world} × {device.type}, {len(train)} training images, global batch {config['batch']}, "
        f"steps {step} → {config['steps']}{', SyncBatchNorm' if args.sync_bn and distributed else ''}")
    epoch = step // per_epoch  # a resumed run goes on with the rest of its epoch
    t0, seen = time.time(), 0
    while step < config["steps"] and not stop.code:
        sampler.set_epoch(epoch)
        train.set_epoch(epoch)
        order = list(sampler)[(step - epoch * per_epoch) * per:]
        loader = torch.utils.data.DataLoader(train, batch_size=per, sampler=order, num_workers=args.workers,
                                             pin_memory=cuda, drop_last=True)
        for x, labels in loader:
            lr = learning_rate(config, step)
            set_lr(optimizer, lr)
            g = torch.Generator().manual_seed(mix_seed(config["seed"], step, rank, 0x6267))
            labels = sample_background(labels, config["bgKeep"], g)
            x, labels = x.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = segmentation_loss(net(x), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            flags = torch.tensor([loss.item(), float(stop.code != 0)], device=device)
            if distributed:
                dist.all_reduce(flags)  # the mean loss, and whether any process was asked to stop
            value, stopping = flags[0].item() / world, flags[1].item() > 0
            if not math.isfinite(value):
                say(f"train_voc: the loss is {value} at step {step}; stopped before updating the weights. "
                    f"The last checkpoint written: {path if os.path.exists(path) else 'none'}.")
                return 1
            ckpt.optimizer_step(optimizer)
            step += 1
            seen += config["batch"]
            history["loss"].append(value)
            history["lr"].append(lr)
            if step % args.log_every == 0 or step == config["steps"]:
                say(f"step {step}/{config['steps']}  loss {value:.4f}  lr {lr:.3g}  {seen / (time.time() - t0):.1f} images/s")
            ev, ce = config["evalEvery"], config["checkpointEvery"]
            if (ev and step % ev == 0) or step == config["steps"]:
                miou = evaluate(model, val, per, device, rank, world)
                history["val"].append({"step": step, "miou": miou})
                say(f"step {step}: validation mIoU {miou:.4f} ({len(val)} images)")
            if (ce and step % ce == 0) or step == config["steps"] or stopping:
                save(step)
            if stopping:
                stop.set(143)
                break
            if step >= config["steps"]:
                break
        epoch += 1
    if stop.code and saved[0] != step:  # stopped between two epochs' loaders
        save(step)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return stop.code


if __name__ == "__main__":
    sys.exit(main())
