"""PASCAL VOC for the PyTorch twin, with hemgpu's semantics (src/data/voc.ts, voc-augment.ts):
JPEGImages/<id>.jpg, <mask dir>/<id>.png (palette indices; 255 = ignore), ImageSets/Segmentation/
<split>.txt; training crops by EMANet's random scale in [0.5, 2], bottom/right padding (image:
the mean, 0 after normalisation; label: 255), random crop and horizontal flip in one resampling
pass (image bilinear, label nearest), ImageNet mean/std; validation: a centre crop (or padding)
at scale 1. The random parameters come from hemgpu's generators (mulberry32, murmur3 seed mixing)
seeded by (seed, epoch, index), the same for any number of processes and loader workers.
Decoding needs Pillow (Debian: python3-pil; pip: pillow); JPEG decoders differ from jpeg-js by
rounding, so pixels are close to hemgpu's, not identical.
"""

from __future__ import annotations

import os

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VOC_CLASSES = 21
IGNORE_LABEL = 255
M32 = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & M32


def mix_seed(*parts: int) -> int:
    """src/data/rng.ts mixSeed: 32-bit integers mixed into one seed (murmur3's finaliser)."""
    h = 0x9E3779B9
    for p in parts:
        k = _imul(p & M32, 0xCC9E2D51)
        k = ((k << 15) | (k >> 17)) & M32
        k = _imul(k, 0x1B873593)
        h ^= k
        h = ((h << 13) | (h >> 19)) & M32
        h = (_imul(h, 5) + 0xE6546B64) & M32
    h ^= h >> 16
    h = _imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


class DataRng:
    """src/data/rng.ts DataRng (mulberry32): the same stream for the same seed."""

    def __init__(self, seed: int):
        self.s = seed & M32

    def next(self) -> float:
        self.s = (self.s + 0x6D2B79F5) & M32
        t = self.s
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296

    def int(self, lo: int, hi: int) -> int:
        return lo + int(self.next() * (hi - lo + 1))

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.next()


def _scaled(n: int, scale: float) -> int:
    return max(1, int(np.floor(n * scale + 0.5)))  # Math.round for positive values


def draw_augment(rng: DataRng, width: int, height: int, crop: int, augment: bool,
                 scale_range=(0.5, 2.0), flip: bool = True) -> tuple[float, int, int, bool]:
    """(scale, offset x, offset y, flip) as hemgpu's drawAugment draws them."""
    if not augment:
        return 1.0, max(0, (width - crop) // 2), max(0, (height - crop) // 2), False
    scale = rng.uniform(*scale_range)
    sw, sh = _scaled(width, scale), _scaled(height, scale)
    ox = rng.int(0, max(sw, crop) - crop)
    oy = rng.int(0, max(sh, crop) - crop)
    return scale, ox, oy, flip and rng.next() < 0.5


def augment_sample(image: np.ndarray, label: np.ndarray, params, crop: int,
                   mean=IMAGENET_MEAN, std=IMAGENET_STD) -> tuple[np.ndarray, np.ndarray]:
    """hemgpu's augmentSample, vectorised: image [h, w, 3] uint8, label [h, w] → x [crop, crop, 3]
    float32 normalised, labels [crop, crop] int64. Same float64 arithmetic, in the same order."""
    scale, ox0, oy0, flip = params
    h, w = label.shape
    sw, sh = _scaled(w, scale), _scaled(h, scale)
    fx, fy = w / sw, h / sh
    py = oy0 + np.arange(crop)
    px = ox0 + (crop - 1 - np.arange(crop) if flip else np.arange(crop))
    syf = np.minimum(np.maximum((py + 0.5) * fy - 0.5, 0), h - 1)
    sxf = np.minimum(np.maximum((px + 0.5) * fx - 0.5, 0), w - 1)
    y0 = np.floor(syf).astype(np.int64)
    x0 = np.floor(sxf).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (syf - y0)[:, None], (sxf - x0)[None, :]
    src = image.astype(np.float64)
    a, b = src[y0[:, None], x0[None, :]], src[y0[:, None], x1[None, :]]
    c, d = src[y1[:, None], x0[None, :]], src[y1[:, None], x1[None, :]]
    w00, w01, w10, w11 = (1 - wx) * (1 - wy), wx * (1 - wy), (1 - wx) * wy, wx * wy
    s = np.array([1 / (255 * sd) for sd in std])
    dd = np.array([m / sd for m, sd in zip(mean, std)])
    x = (a * w00[..., None] + b * w01[..., None] + c * w10[..., None] + d * w11[..., None]) * s - dd
    ly = np.minimum(np.floor((py + 0.5) * fy), h - 1).astype(np.int64)
    lx = np.minimum(np.floor((px + 0.5) * fx), w - 1).astype(np.int64)
    labels = label[ly[:, None], lx[None, :]].astype(np.int64)
    outside = (py >= sh)[:, None] | (px >= sw)[None, :]
    x[outside] = 0
    labels[outside] = IGNORE_LABEL
    return x.astype(np.float32), labels


def _voc_colormap(n: int = 256) -> np.ndarray:
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def read_mask(path: str) -> np.ndarray:
    """Palette PNGs give their indices, greyscale ones their values, RGB ones the VOC colour map's index."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("P", "L"):
            return np.array(im, dtype=np.uint8)
        rgb = np.array(im.convert("RGB"), dtype=np.int64)
    key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    cmap = _voc_colormap().astype(np.int64)
    lut = {int((r << 16) | (g << 8) | b): i for i, (r, g, b) in enumerate(cmap)}
    out = np.vectorize(lambda k: lut.get(int(k), -1))(key)
    if (out < 0).any():
        raise ValueError(f"voc: RGB mask {path} has colours outside the VOC colour map; save masks as palette PNGs.")
    return out.astype(np.uint8)


class VocSegmentation(torch.utils.data.Dataset):
    """A VOC split: items (x [3, crop, crop] float32, labels [crop, crop] int64). Set `epoch` (or
    call set_epoch) before each epoch's loader is made: the crops of sample i in epoch e are drawn
    from (seed, e, i)."""

    def __init__(self, root: str, split: str = "train", crop: int = 320, augment: bool | None = None,
                 mask_dir: str = "SegmentationClass", limit: int | None = None, seed: int = 1):
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise ImportError("voc: reading JPEG and PNG files needs Pillow (Debian: apt-get install python3-pil; pip install pillow).") from None
        listing = os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt")
        for p in (os.path.join(root, "JPEGImages"), os.path.join(root, mask_dir), listing):
            if not os.path.exists(p):
                raise FileNotFoundError(f"voc: '{p}' is missing; '{root}' does not have the PASCAL VOC layout "
                                        "(JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt).")
        with open(listing) as f:
            ids = [line.split()[0] for line in f if line.strip()]
        if limit is not None:
            ids = ids[:limit]
        if not ids:
            raise ValueError(f"voc: '{listing}' lists no ids.")
        self.root, self.split, self.crop, self.mask_dir, self.ids = root, split, crop, mask_dir, ids
        self.augment = split == "train" if augment is None else augment
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        sid = self.ids[i]
        with Image.open(os.path.join(self.root, "JPEGImages", f"{sid}.jpg")) as im:
            image = np.array(im.convert("RGB"), dtype=np.uint8)
        label = read_mask(os.path.join(self.root, self.mask_dir, f"{sid}.png"))
        if label.shape != image.shape[:2]:
            raise ValueError(f"voc: '{sid}': image {image.shape[1]}×{image.shape[0]} but mask {label.shape[1]}×{label.shape[0]}.")
        bad = (label >= VOC_CLASSES) & (label != IGNORE_LABEL)
        if bad.any():
            raise ValueError(f"voc: mask of '{sid}' has label {int(label[bad][0])}; expected 0-{VOC_CLASSES - 1} or {IGNORE_LABEL}.")
        return image, label

    def __getitem__(self, i: int):
        image, label = self.load(i)
        rng = DataRng(mix_seed(self.seed, self.epoch, i))
        params = draw_augment(rng, image.shape[1], image.shape[0], self.crop, self.augment)
        x, labels = augment_sample(image, label, params, self.crop)
        return torch.from_numpy(x).permute(2, 0, 1).contiguous(), torch.from_numpy(labels)
