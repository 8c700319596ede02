"""Peak memory and time of one `ISDACovariance.update`, at CIFAR and at ResNet-50 width, per code version.

    OMP_NUM_THREADS=1 python benchmarks/isda_memory.py --before /tmp/isda_before

Cases (positions N = batch x feature-map positions, classes C = LCReg's latent categories, D channels):
CIFAR is LCReg on ResNet-32 (128 images x 8 x 8 positions, 40 latents, 64 channels); ResNet-50 is
`lcreg-resnext50-imagenetlt`'s 100 latents over 2048 channels at batch 64 x 7 x 7 positions.
Each measurement is a fresh process (this file with `--child`) that builds the estimator and a batch,
then times one update; "extra MB" is the peak resident memory (`ru_maxrss`) less the resident memory
just before the update (state and batch included there), so it is what the update itself adds.
`--before DIR` also runs the package laid out in DIR (`DIR/keras_lt`, e.g. `git archive` of an
earlier commit), each case right before the current code's runs of it.
"""

import argparse
import os
import platform
import resource
import subprocess
import sys
import time

CASES = {  # name: (positions N, classes C, channels D)
    "cifar": (128 * 8 * 8, 40, 64),
    "resnet50": (64 * 7 * 7, 100, 2048),
}


def child(case, max_block_bytes):
    """Runs one update in this process and prints `rss_before_mb extra_mb seconds`."""
    import torch

    from keras_lt.losses.isda import ISDACovariance

    n, c, d = CASES[case]
    torch.manual_seed(0)
    options = {} if max_block_bytes is None else {"max_block_bytes": max_block_bytes}
    estimator = ISDACovariance(c, d, **options)
    features, labels = torch.randn(n, d), torch.randint(0, c, (n,))
    before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    start = time.perf_counter()
    estimator.update(features, labels)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{before:.0f} {peak - before:.0f} {seconds:.2f}")


def measure(case, code, max_block_bytes):
    """(resident MB before the update, MB the update adds at its peak, seconds) from a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--child", case]
    if max_block_bytes is not None:
        command += ["--max-block-bytes", str(max_block_bytes)]
    environment = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=code)
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd="/tmp")
    if result.returncode != 0:
        raise SystemExit(f"{case} with {code} failed: {result.stderr[-500:]}")
    before, extra, seconds = (float(v) for v in result.stdout.split()[-3:])
    return before, extra, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a directory holding an earlier keras_lt package to compare with")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--max-block-bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.max_block_bytes)
    current = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [("cifar", "current", current, None), ("cifar", "current, per class", current, 0),
            ("resnet50", "current", current, None)]
    if args.before:
        runs = [("cifar", "before", args.before, None), *runs[:2], ("resnet50", "before", args.before, None),
                runs[2]]
    print(f"# ISDACovariance.update; {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'default')}", flush=True)
    print(f"{'case':>9}  {'N':>5}  {'C':>4}  {'D':>5}  {'code':>18}  {'RSS before MB':>13}  {'extra MB':>8}  "
          f"{'seconds':>7}", flush=True)
    for case, code, path, max_block_bytes in runs:
        before, extra, seconds = measure(case, path, max_block_bytes)
        n, c, d = CASES[case]
        print(f"{case:>9}  {n:>5}  {c:>4}  {d:>5}  {code:>18}  {before:>13.0f}  {extra:>8.0f}  {seconds:>7.2f}",
              flush=True)


if __name__ == "__main__":
    main()
