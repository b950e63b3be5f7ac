"""Round trip of hemgpu checkpoints through the PyTorch twin: each file is loaded into the twin's
SegNet and optimizer and written back as hemgpu writes it; every tensor is compared bit for bit and
the whole file byte for byte. Exit status 1 if any checkpoint changes.

    /usr/bin/python3 python/roundtrip.py runs/demo/hemnet/checkpoint.safetensors [more.safetensors ...] [--write DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from hemgpu_twin import checkpoint as ckpt
from hemgpu_twin import safetensors_io
from parity import round_trip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", help="checkpoint files written by hemgpu train")
    ap.add_argument("--write", metavar="DIR", help="also write each round trip to DIR/<n>-<name> (atomically)")
    args = ap.parse_args()
    failed = 0
    for i, path in enumerate(args.checkpoints):
        t0 = time.time()
        try:
            with open(path, "rb") as f:
                original = f.read()
            c = ckpt.verify(path, *safetensors_io.decode(original, path))
            back, differ = round_trip(c, original)
        except (OSError, ValueError, KeyError) as e:
            print(f"{path}: not a readable hemgpu checkpoint: {e}", file=sys.stderr)
            failed += 1
            continue
        same = back == original and differ == 0
        failed += 0 if same else 1
        what = f"{c.config['model']}, step {c.step}, {len(c.tensors)} tensors, {len(original):,} bytes"
        verdict = "every tensor bit-exact, file byte-identical" if same else f"CHANGED: {differ} tensor(s) or the metadata differ; file {'identical' if back == original else 'differs'}"
        print(f"{path} ({what}): {verdict} ({time.time() - t0:.1f} s)")
        if args.write:
            os.makedirs(args.write, exist_ok=True)
            safetensors_io.write_atomic(os.path.join(args.write, f"{i}-{os.path.basename(path)}"), back)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
