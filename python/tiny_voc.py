#!/usr/bin/env python3
"""Write a tiny PASCAL-VOC-layout folder of synthetic images (coloured rectangles on noise,
palette PNG masks with a 255 border) for smoke tests of the VOC recipe:
    python3 python/tiny_voc.py DIR [--train 8] [--val 4]
Needs Pillow and numpy."""

import argparse
import os

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--train", type=int, default=8)
    ap.add_argument("--val", type=int, default=4)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(args.dir, sub), exist_ok=True)
    palette = [0] * 768
    for split, count in (("train", args.train), ("val", args.val)):
        ids = []
        for i in range(count):
            sid = f"2007_{split}{i:03d}"
            h, w = int(rng.integers(36, 60)), int(rng.integers(36, 60))
            img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
            mask = np.zeros((h, w), np.uint8)
            for _ in range(2):
                c = int(rng.integers(1, 21))
                y, x = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 12))
                dy, dx = int(rng.integers(8, 20)), int(rng.integers(8, 20))
                img[y:y + dy, x:x + dx] = (c * 12, 255 - c * 12, (c * 37) % 256)
                mask[y:y + dy, x:x + dx] = c
                mask[max(0, y - 1):y + dy + 1, max(0, x - 1)] = 255  # a border, ignored
            Image.fromarray(img, "RGB").save(os.path.join(args.dir, "JPEGImages", f"{sid}.jpg"), quality=95)
            m = Image.fromarray(mask, "P")
            m.putpalette(palette)
            m.save(os.path.join(args.dir, "SegmentationClass", f"{sid}.png"))
            ids.append(sid)
        with open(os.path.join(args.dir, "ImageSets", "Segmentation", f"{split}.txt"), "w") as f:
            f.write("\n".join(ids) + "\n")


if __name__ == "__main__":
    main()
