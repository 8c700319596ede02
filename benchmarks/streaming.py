"""Images/s of the streaming pipeline alone (decode + augment) against plain PIL + a torch DataLoader.

Both sides decode the same JPEGs through a `torch.utils.data.DataLoader` with the same number of
worker processes and batch size, and apply the same training transform: RandomResizedCrop(224)
(scale 0.08..1, ratio 3/4..4/3, bilinear) + horizontal flip, optionally + ColorJitter(0.4, 0.4, 0.4).

- reference: what a plain PyTorch ImageNet script does without torchvision: `Image.open(path)
  .convert("RGB")`, the crop box, `crop(box).resize((224, 224), BILINEAR)`, flip, PIL ImageEnhance
  jitter, then `ToTensor` + `Normalize` (float32 CHW) in the worker; batches collated as float32.
- keras-lt: `keras_lt.data.DecodePool` with `TrainTransform` (the box from the header, the JPEG
  decoded at the smallest 1/2^k scale that keeps the box >= 224 px, resized from there, uint8 HWC
  out; the float conversion and normalisation happen inside the model, on the device), with PIL's
  JPEG decoder and, when simplejpeg is installed (`pip install keras-lt[jpeg]`), with simplejpeg's.

The images are synthetic photographs' stand-ins (smooth random colour fields plus fine texture,
JPEG quality 90, at ImageNet's common sizes 500x375, 375x500, 500x333, 640x480), written once to a
temporary folder; every pass reads them from the page cache. Rounds are interleaved (reference,
keras-lt, ...) and medians reported, as the shared machine's speed drifts. Run:

    python benchmarks/streaming.py [--images 192] [--rounds 3] [--workers 1 2]
"""

import argparse
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from PIL import ImageEnhance

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from keras_lt.data import decode  # noqa: E402
from keras_lt.data.decode_pool import DecodePool  # noqa: E402
from keras_lt.data.train_transform import TrainTransform  # noqa: E402

SIZES = ((500, 375), (375, 500), (500, 333), (640, 480))
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def write_images(folder, count):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        width, height = SIZES[i % len(SIZES)]
        field = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
        pixels = np.asarray(field, dtype=np.int16) + rng.integers(-12, 13, (height, width, 3))
        path = os.path.join(folder, f"{i}.jpg")
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


class ReferenceTransform:
    """torchvision's RandomResizedCrop + flip (+ ColorJitter) + ToTensor + Normalize, written with PIL."""

    def __init__(self, size, jitter):
        self.size = size
        self.jitter = jitter

    def __call__(self, path, seed):
        rnd = random.Random(seed)
        image = Image.open(path).convert("RGB")
        width, height = image.size
        area = width * height
        for _ in range(10):
            target = area * rnd.uniform(0.08, 1.0)
            aspect = math.exp(rnd.uniform(math.log(3 / 4), math.log(4 / 3)))
            w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top, left = rnd.randint(0, height - h), rnd.randint(0, width - w)
                break
        else:
            w, h = min(width, height), min(width, height)
            top, left = (height - h) // 2, (width - w) // 2
        image = image.crop((left, top, left + w, top + h)).resize((self.size, self.size), Image.BILINEAR)
        if rnd.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if self.jitter:
            enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
            rnd.shuffle(enhancers)
            for enhancer in enhancers:
                image = enhancer(image).enhance(rnd.uniform(0.6, 1.4))
        tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
        return (tensor - MEAN) / STD


def _stack_float(tensors):
    return torch.stack(tensors)


def reference_pass(paths, transform, workers, batch):
    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return transform(paths[i], i)

    loader = torch.utils.data.DataLoader(
        Files(), batch_size=batch, num_workers=workers, collate_fn=_stack_float,
        prefetch_factor=4 if workers else None,
    )
    return sum(len(b) for b in loader)


def keras_lt_pass(paths, transform, workers, batch, jpeg_module):
    decode.simplejpeg = jpeg_module  # the DataLoader's forked workers inherit the decoder choice
    pool = DecodePool(paths, transform, workers, (transform.size, transform.size, 3))
    batches = [[(i, i) for i in range(s, min(s + batch, len(paths)))] for s in range(0, len(paths), batch)]
    return sum(len(pool.batch(i, lambda start: iter(batches[start:]))) for i in range(len(batches)))


def timed(function, *args):
    start = time.perf_counter()
    count = function(*args)
    return count / (time.perf_counter() - start)


def reference(paths, transform, workers, batch, _):
    return reference_pass(paths, transform, workers, batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"command: python benchmarks/streaming.py {' '.join(sys.argv[1:])}".rstrip())
    simplejpeg = decode.simplejpeg
    jpeg = f"simplejpeg {simplejpeg.__version__}" if simplejpeg else "not installed"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}; "
          f"Pillow {Image.__version__}; simplejpeg: {jpeg}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        paths = write_images(folder, args.images)
        megabytes = sum(os.path.getsize(p) for p in paths) / len(paths) / 1e6
        print(f"{len(paths)} JPEGs (quality 90, {', '.join(f'{w}x{h}' for w, h in SIZES)}), {megabytes:.3f} MB each on average")
        for jitter in (False, True):
            name = "crop + flip + jitter" if jitter else "crop + flip"
            ours = TrainTransform(224, (0.4,) * 3 if jitter else None)
            pipelines = {
                "reference (PIL + DataLoader, float32 CHW)": (reference, ReferenceTransform(224, jitter), None),
                "keras-lt, PIL decode (uint8 HWC)": (keras_lt_pass, ours, None),
            }
            if simplejpeg:
                pipelines["keras-lt, simplejpeg decode (uint8 HWC)"] = (keras_lt_pass, ours, simplejpeg)
            for workers in args.workers:
                results = {label: [] for label in pipelines}
                for _ in range(args.rounds + 1):  # the first round warms the page cache and is dropped
                    for label, (run, transform, module) in pipelines.items():
                        results[label].append(timed(run, paths, transform, workers, args.batch, module))
                medians = {label: statistics.median(rates[1:]) for label, rates in results.items()}
                base = medians[next(iter(pipelines))]
                for label, rates in results.items():
                    rounds = ", ".join(f"{r:.1f}" for r in rates[1:])
                    print(f"{name:20s} workers {workers}  {label:41s} {medians[label]:6.1f} img/s "
                          f"({medians[label] / workers:6.1f} per worker, {medians[label] / base:.2f}x; rounds {rounds})")


if __name__ == "__main__":
    main()
