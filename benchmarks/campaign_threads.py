"""Which process/thread arrangement trains fastest on this CPU, idle and while other work competes.

The training campaign (`benchmarks/campaign.py`) runs its recipes at low priority (`nice 19`)
beside the developers' own work. This script measures, in one run, the total throughput of
keras-lt's ResNet-32 train step (the `train_step.py` step, batch 128) under each arrangement:

- one process of two threads, or two processes of one thread each;
- OpenMP's default wait policy, or `OMP_WAIT_POLICY=PASSIVE` (idle threads sleep instead of
  spinning, which matters when another process wants the core);

(a one-thread process has no OpenMP team, so its wait policy does not matter), each on an
otherwise idle machine and beside a competitor: one busy process at normal priority standing in for
a test run. The arrangements take turns for `--rounds` rounds, so a machine whose load drifts slows
each alike, and each figure is the median over rounds. Every arrangement trains for the same wall-clock window, which
starts once all its processes have warmed up; the figure is images/s summed over its processes.

    python benchmarks/campaign_threads.py --seconds 20 --rounds 2 | tee benchmarks/results/campaign_threads_cpu.log
"""

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP_STEPS = 3
# (processes, threads, OMP_WAIT_POLICY); a one-thread process has no OpenMP team to wait in.
ARRANGEMENTS = {
    "1 process x 2 threads, default wait": (1, 2, "default"),
    "1 process x 2 threads, PASSIVE wait": (1, 2, "PASSIVE"),
    "2 processes x 1 thread": (2, 1, "PASSIVE"),
}


def worker(batch_size, seconds, barrier, processes):
    """Warms up, waits until every process of the arrangement has, then trains `seconds`; prints img/s."""
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
    with open(barrier, "a") as f:  # every process of an arrangement starts timing together
        f.write("ready\n")
    while len(open(barrier).read().split()) < processes:
        time.sleep(0.01)
    steps, begin = 0, time.perf_counter()
    while time.perf_counter() < begin + seconds:
        trainer.train_step((images, labels))
        steps += 1
    print(steps * batch_size / (time.perf_counter() - begin))


def competitor():
    """One busy core at normal priority: the other work the campaign shares the machine with."""
    while True:
        sum(i * i for i in range(10_000))


def measure(processes, threads, policy, seconds, batch_size):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    barrier = tempfile.NamedTemporaryFile(delete=False).name
    command = [sys.executable, __file__, "--worker", "--batch-size", str(batch_size),
               "--seconds", str(seconds), "--barrier", barrier, "--processes", str(processes)]
    workers = [
        subprocess.Popen(["nice", "-n", "19", *command], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    rate = sum(float(w.communicate()[0].split()[-1]) for w in workers)
    os.unlink(barrier)
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="Timed window per arrangement.")
    parser.add_argument("--rounds", type=int, default=2, help="Turns each arrangement takes; figures are medians.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.batch_size, args.seconds, args.barrier, args.processes)
    print(f"{platform.machine()}, {os.cpu_count()} cores; workers at nice 19, batch {args.batch_size}, "
          f"{args.seconds:g} s timed per arrangement once all its processes are warm")
    for load in ("idle", "one busy process at nice 0"):
        busy = None if load == "idle" else subprocess.Popen([sys.executable, "-c",
                                                             "import campaign_threads as c; c.competitor()"],
                                                            cwd=os.path.dirname(os.path.abspath(__file__)))
        rates = {name: [] for name in ARRANGEMENTS}
        try:
            for round_, (name, arrangement) in itertools.product(range(args.rounds), ARRANGEMENTS.items()):
                rates[name].append(measure(*arrangement, args.seconds, args.batch_size))
                print(f"  round {round_ + 1}: {load} | {name} | {rates[name][-1]:.1f} img/s", flush=True)
        finally:
            if busy is not None:
                busy.kill()
        for name, values in rates.items():
            print(f"{load:28s} | {name:38s} | median {statistics.median(values):7.1f} img/s", flush=True)


if __name__ == "__main__":
    main()
