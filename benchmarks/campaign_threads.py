"""Which process/thread arrangement trains fastest on this CPU, idle and while other work competes.

The training campaign (`benchmarks/campaign.py`) runs its recipes at low priority (`nice 19`)
beside the developers' own work. This script measures, in one run, the total throughput of
keras-lt's ResNet-32 train step (the `train_step.py` step, batch 128) under each arrangement:

- one process of two threads, or two processes of one thread each;
- OpenMP's default wait policy, or `OMP_WAIT_POLICY=PASSIVE` (idle threads sleep instead of
  spinning, which matters when another process wants the core);

each once on an otherwise idle machine and once beside a competitor: one busy process at normal
priority standing in for a test run. Every arrangement trains for the same wall-clock window after
its warm-up; the figure is images/s summed over its processes.

    python benchmarks/campaign_threads.py --seconds 30 | tee benchmarks/results/campaign_threads_cpu.log
"""

import argparse
import itertools
import os
import platform
import subprocess
import sys
import time

WARMUP_STEPS = 3
ARRANGEMENTS = {"1 process x 2 threads": (1, 2), "2 processes x 1 thread": (2, 1)}
WAIT_POLICIES = ("default", "PASSIVE")


def worker(batch_size, seconds, start_at):
    """Trains until `start_at + seconds` (wall clock), timing only steps after `start_at`; prints the count."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import torch

    import keras_lt
    from keras_lt.trainers import ERMTrainer
    from keras_lt.trainers import SGD

    torch.manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 32, 32, 3), dtype=torch.uint8)
    labels = torch.randint(0, 10, (batch_size,))
    trainer = ERMTrainer(keras_lt.models.resnet32(10))
    trainer.compile(
        optimizer=SGD(0.1, momentum=0.9, weight_decay=2e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    for _ in range(WARMUP_STEPS):
        trainer.train_step((images, labels))
    while time.time() < start_at:  # every process of an arrangement starts timing together
        time.sleep(0.01)
    steps, begin = 0, time.perf_counter()
    while time.time() < start_at + seconds:
        trainer.train_step((images, labels))
        steps += 1
    print(steps * batch_size / (time.perf_counter() - begin))


def competitor():
    """One busy core at normal priority: the other work the campaign shares the machine with."""
    while True:
        sum(i * i for i in range(10_000))


def measure(processes, threads, policy, seconds, batch_size, warmup_seconds):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    start_at = time.time() + warmup_seconds
    command = [sys.executable, __file__, "--worker", "--batch-size", str(batch_size),
               "--seconds", str(seconds), "--start-at", repr(start_at)]
    workers = [
        subprocess.Popen(["nice", "-n", "19", *command], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    return sum(float(w.communicate()[0].split()[-1]) for w in workers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="Timed window per arrangement.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup-seconds", type=float, default=25.0, help="Import + warm-up allowance.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.batch_size, args.seconds, args.start_at)
    print(f"{platform.machine()}, {os.cpu_count()} cores; workers at nice 19, batch {args.batch_size}, "
          f"{args.seconds:g} s timed per arrangement after warm-up")
    for load in ("idle", "one busy process at nice 0"):
        busy = None if load == "idle" else subprocess.Popen([sys.executable, "-c",
                                                             "import campaign_threads as c; c.competitor()"],
                                                            cwd=os.path.dirname(os.path.abspath(__file__)))
        try:
            for (name, (processes, threads)), policy in itertools.product(ARRANGEMENTS.items(), WAIT_POLICIES):
                rate = measure(processes, threads, policy, args.seconds, args.batch_size, args.warmup_seconds)
                print(f"{load:28s} | {name:24s} | OMP_WAIT_POLICY {policy:8s} | {rate:7.1f} img/s", flush=True)
        finally:
            if busy is not None:
                busy.kill()


if __name__ == "__main__":
    main()
