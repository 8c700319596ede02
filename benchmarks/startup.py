"""Start-up of the CLI: `keras-lt --help`, `list`, `info` and `predict`'s time to its first prediction.

    python benchmarks/startup.py [--tree DIR] [--repeats 3] >> benchmarks/results/startup_cpu_2cores.log

Each command runs in a fresh process (`python -m keras_lt.cli.main ...`, with `PYTHONPATH=DIR` when
`--tree` names another checkout, e.g. the code before a change); the figure is the median wall time
from the start of the process to its exit or, for `predict`, to its first line of predictions (the
bundled sample images with the default zoo model). Also says whether torch and Keras were imported
(`python -X importtime`).
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "--help": ["--help"],
    "list": ["list"],
    "info": ["info", "ce-resnet32-cifar10lt"],
    "predict (first prediction)": ["predict", "ce-resnet32-cifar10lt", "--top-k", "1"],
}


def first_output_seconds(args, env, cwd):
    """Wall seconds from starting `keras-lt ARGS` to its first stdout line (the whole run if it prints none)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "keras_lt.cli.main", *args], env=env, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    process.stdout.readline()
    seconds = time.perf_counter() - start
    process.stdout.read()
    process.wait()
    return seconds


def imports_torch_or_keras(args, env, cwd):
    """Which of torch and keras `keras-lt ARGS` imports (from `python -X importtime`)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_lt.cli.main", *args], env=env,
                            cwd=cwd, capture_output=True, text=True)
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    return [m for m in ("torch", "keras") if m in modules]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", help="A checkout to measure instead of the installed keras_lt.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env, cwd = dict(os.environ), None
    if args.tree:  # `python -m` puts the working directory first on sys.path: run in the tree
        env["PYTHONPATH"] = cwd = os.path.abspath(args.tree)
    print(f"# {args.tree or 'installed'}, {platform.machine()} {os.cpu_count()} cores, median of {args.repeats}")
    for name, command in COMMANDS.items():
        seconds = statistics.median(first_output_seconds(command, env, cwd) for _ in range(args.repeats))
        imported = imports_torch_or_keras(command, env, cwd)
        print(f"{name:<28} {seconds:6.2f} s   imports: {', '.join(imported) or 'neither torch nor keras'}")


if __name__ == "__main__":
    main()
