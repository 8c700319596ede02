"""Peak memory and time of `keras-lt predict` on a folder of images, per `--batch-size` and code version.

    OMP_NUM_THREADS=1 python benchmarks/predict_memory.py ~/.cache/keras-lt/cifar10-jpeg-q75/test \
        --batch-sizes default 32 500 --before /tmp/before --before-batch-sizes 500 64

Each run is a fresh `python -m keras_lt.cli.main predict MODEL FOLDER --format csv` process
("default": no `--batch-size`); its peak resident memory is the child's `ru_maxrss` and its CPU
time `ru_utime + ru_stime` (`os.wait4`). `--before DIR` also runs the package laid out in DIR
(`DIR/keras_lt` with `cli` as `keras_lt/cli` and `zoo` as `keras_lt/zoo`, e.g. an earlier commit's)
with `--before-batch-sizes`, interleaved with the current code's runs. On a shared machine, run it
with `OMP_NUM_THREADS=1`: CPU time then measures the work, where several threads spin while others
wait for a core. Medians over the rounds are printed, one row per code and batch size.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def measure(model, folder, batch_size, code=None):
    """(peak RSS in MB, wall seconds, CPU seconds) of one predict process, with the package in `code` if given."""
    command = [sys.executable, "-m", "keras_lt.cli.main", "predict", model, folder, "--format", "csv"]
    if batch_size != "default":
        command += ["--batch-size", batch_size]
    environment = dict(os.environ, **({"PYTHONPATH": code} if code else {}))
    start = time.perf_counter()
    # cwd outside the checkout: its keras_lt/ would shadow the package in `code`.
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment,
                             cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"predict --batch-size {batch_size} failed: {child.stderr.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024, seconds, usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of images (searched recursively)")
    parser.add_argument("--model", default="ce-resnet32-cifar10lt")
    parser.add_argument("--batch-sizes", nargs="+", default=["default", "500"])
    parser.add_argument("--before", help="a directory holding an earlier keras_lt package to compare with")
    parser.add_argument("--before-batch-sizes", nargs="+", default=["500"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folder = os.path.expanduser(args.folder)
    runs = [("current", b, None) for b in args.batch_sizes]
    runs += [("before", b, args.before) for b in args.before_batch_sizes] if args.before else []
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"# keras-lt predict {args.model} on {args.folder}; {platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={threads}, medians of {args.rounds} interleaved rounds", flush=True)
    results = {(code, b): [] for code, b, _ in runs}
    for round_ in range(args.rounds):
        for code, batch_size, path in runs:
            results[code, batch_size].append(measure(args.model, folder, batch_size, path))
            peak, wall, cpu = results[code, batch_size][-1]
            print(f"# round {round_}, {code} code, batch size {batch_size}: {peak:.0f} MB, {wall:.1f} s, "
                  f"{cpu:.1f} CPU s", flush=True)
    print(f"{'code':>8}  {'batch size':>10}  {'peak RSS MB':>11}  {'wall s':>7}  {'CPU s':>6}")
    for (code, batch_size), values in results.items():
        peak, wall, cpu = (statistics.median(v) for v in zip(*values))
        print(f"{code:>8}  {batch_size:>10}  {peak:>11.0f}  {wall:>7.1f}  {cpu:>6.1f}")


if __name__ == "__main__":
    main()
