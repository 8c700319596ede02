"""What streamed AFR's on-disk re-balanced set costs: its write, the backup's checksum, batch reads, the crop.

Streamed AFR (`keras_lt.trainers.afr`) writes the re-balanced set of every period to a memory-mapped
uint8 `.npy` (`keras_lt.data.DiskBatches.write`), the first backup of the period hashes it
(SHA-256, as `keras_lt.callbacks.Backup` does every new file it keeps), and every step reads one batch of rows in
the epoch's random order and crops + flips it on the device (`random_resized_crop_flip`). This
times each on `--images` random 224x224 images (the page cache is whatever the machine has: the
reads are an upper bound of a cold disk), and scales the write and the checksum to ImageNet-LT's
115.8k images (17 GB). Run:

    python benchmarks/afr_disk_set.py [--images 3000] [--batch-size 128]
"""

import argparse
import hashlib
import os
import shutil
import tempfile
import time

import numpy as np

from keras_lt.data.disk_batches import DiskBatches

SIDE = 224
IMAGENET_LT_TRAIN = 115_846


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    directory = tempfile.mkdtemp()
    try:
        labels = np.arange(args.images) % 10
        batches = DiskBatches(os.path.join(directory, "set.npy"), labels, 10, (SIDE, SIDE, 3), args.batch_size)
        chunk = np.random.default_rng(0).integers(0, 256, (500, SIDE, SIDE, 3), dtype=np.uint8)
        start = time.perf_counter()
        parts = ((slice(s, s + 500), chunk[: min(500, args.images - s)]) for s in range(0, args.images, 500))
        batches.write(args.images, parts)
        write = time.perf_counter() - start
        megabytes = os.path.getsize(batches.path) / 1e6
        start = time.perf_counter()
        digest = hashlib.sha256()
        with open(batches.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        checksum = time.perf_counter() - start
        batches.set_epoch(1)
        start = time.perf_counter()
        for index in range(len(batches)):
            batches.read(batches.batch_indices(index))
        read = (time.perf_counter() - start) / len(batches)
        start = time.perf_counter()
        batches[0]
        crop = time.perf_counter() - start - read
        scale = IMAGENET_LT_TRAIN * SIDE * SIDE * 3 / 1e6 / megabytes
        print(f"{args.images} images ({megabytes:.0f} MB), device {batches.device}:")
        print(f"  write {megabytes / write:.0f} MB/s (ImageNet-LT's set: {write * scale:.0f} s a period)")
        print(f"  SHA-256 {megabytes / checksum:.0f} MB/s (ImageNet-LT's set: {checksum * scale:.0f} s an epoch's backup)")
        batch = f"a batch of {args.batch_size} rows in random order"
        print(f"  {batch}: {read * 1000:.0f} ms read, {crop * 1000:.0f} ms crop + flip")
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
