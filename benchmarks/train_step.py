"""Times the keras-lt ResNet-32 train step against a plain-PyTorch step of the same network.

Both steps see the same uint8 batch already on the device, normalise it, run forward + backward,
and take an SGD step with momentum and weight decay. The ratio (keras-lt / PyTorch throughput) is
what the README quotes; run it with the command and log committed under benchmarks/results/.
`--image-size 8 --batch-size 1` makes the arithmetic negligible, so the step times what a launch-bound
GPU step pays on the host (Python, Keras, dispatch): the CPU's measure of per-step overhead.
With `--clock cpu` the steps are timed in this process's CPU time: on one thread of a shared machine
that leaves out what other processes take, so runs at different moments compare.
`--keras-batchnorm` also times the same network built with Keras' own (unfused)
BatchNormalization, the "before" of keras-lt's fused `BatchNorm`, in the same run.

The steps are timed in `--rounds` interleaved rounds (PyTorch, keras-lt, [Keras BN], PyTorch, ...)
and each figure is the median over rounds, so a machine whose speed drifts during the run (a
shared CPU) slows every contender alike; the per-round ratios' range is printed with it.

    python benchmarks/train_step.py --batch-size 128 --steps 20 --rounds 5 --keras-batchnorm
"""

import argparse
import functools
import os
import platform
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import keras_lt  # noqa: E402
from keras_lt.models import blocks  # noqa: E402
from keras_lt.trainers import ERMTrainer  # noqa: E402
from keras_lt.trainers import SGD  # noqa: E402


class TorchBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.pad = cout - cin

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.pad:
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + x)


class TorchResNet32(torch.nn.Module):
    """The LDAM-DRW ResNet-32 in plain PyTorch: the reference the ratio is taken against."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = torch.nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout in (16, 32, 64):
            for block in range(5):
                layers.append(TorchBlock(cin, cout, 2 if cout != 16 and block == 0 else 1))
                cin = cout
        self.layers = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(64, num_classes)
        self.register_buffer("mean", 255 * torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1))
        self.register_buffer("std", 255 * torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1))

    def forward(self, images):
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(x.mean((2, 3)))


WARMUP_STEPS = 3


def time_steps(step, steps, clock=time.perf_counter):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = clock()
    for _ in range(steps):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return clock() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="Timed steps per round.")
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds; figures are medians.")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32, help="Square image side (8 with batch 1: per-step overhead).")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (one thread, a shared machine: what other processes take is not counted).")
    parser.add_argument("--keras-batchnorm", action="store_true", help="Also time Keras' own BatchNormalization.")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, args.image_size, args.image_size, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, args.num_classes, (args.batch_size,), device=device)

    reference = TorchResNet32(args.num_classes).to(device)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)

    def torch_step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(reference(images), labels).backward()
        optimizer.step()

    def keras_step_of(network):
        trainer = ERMTrainer(network)
        trainer.compile(
            optimizer=SGD(0.1, momentum=0.9, weight_decay=2e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return lambda: trainer.train_step((images, labels))

    contenders = {"plain PyTorch": torch_step, "keras-lt": keras_step_of(keras_lt.models.resnet32(args.num_classes))}
    if args.keras_batchnorm:
        # Same network, same momentum/epsilon, but Keras' unfused BatchNormalization.
        unfused = functools.partial(keras.layers.BatchNormalization, momentum=0.9, epsilon=1e-5)
        blocks.BatchNorm, fused = unfused, blocks.BatchNorm
        try:
            contenders["keras-lt with Keras' BatchNormalization"] = keras_step_of(keras_lt.models.resnet32(args.num_classes))
        finally:
            blocks.BatchNorm = fused
    for step in contenders.values():
        for _ in range(WARMUP_STEPS):
            step()
    seconds = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, step in contenders.items():
            seconds[name].append(time_steps(step, args.steps, time.process_time if args.clock == "cpu" else time.perf_counter))
    n = args.steps * args.batch_size
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}, keras {keras.__version__}")
    print(f"batch {args.batch_size} of {args.image_size}x{args.image_size}, {args.rounds} interleaved rounds of {args.steps} timed steps each, "
          f"after {WARMUP_STEPS} warm-up steps; medians over rounds; {args.clock} clock")
    reference_seconds = seconds["plain PyTorch"]
    for name, times in seconds.items():
        median = statistics.median(times)
        line = f"{name:40s}: {n / median:8.1f} img/s {1000 * median / args.steps:7.2f} ms/step"
        if name != "plain PyTorch":
            ratios = [t_ref / t for t_ref, t in zip(reference_seconds, times)]
            line += f"   ratio to PyTorch {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}..{max(ratios):.3f})"
        print(line)


if __name__ == "__main__":
    main()
