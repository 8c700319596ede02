"""benchmarks/campaign_ship.py: a finished campaign run replaces a zoo entry's short30 checkpoint."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
_spec = importlib.util.spec_from_file_location("campaign_ship", REPO / "benchmarks" / "campaign_ship.py")
campaign_ship = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(campaign_ship)

NAME = "kps-resnet32-cifar10lt"
METHODS = {
    "ce-resnet32-cifar10lt": {"label": "CE", "published": 70.4},
    "bs-resnet32-cifar10lt": {"label": "Balanced Softmax", "published": None},
    NAME: {"label": "KPS", "published": 81.2},
    "bs-resnet32-cifar10lt-300ep": {"label": "BS 300", "published": None},
}


def config(name, schedule, top1, device, epochs=200):
    return {
        "name": name, "architecture": {"name": "resnet32"},
        "recipe": {"name": name, "method": "erm", "loss": "kps", "epochs": epochs, "schedule": schedule},
        "metrics": {"top1": top1, "top5": 99.0, "many": top1 + 5, "medium": top1 - 20, "few": None},
        "dataset": {"name": "cifar10", "title": "CIFAR-10-LT", "data_dir": "/root/.cache/keras-lt/cifar10-jpeg-q75"},
        "run": {"device": device, "torch": "2.13.0", "keras": "3", "keras_lt": "0.1.0", "train_seconds": 60.0},
    }


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if isinstance(text, str) else json.dumps(text))


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    write(root / "zoo" / NAME / "recipe.json", {"name": NAME, "epochs": 200})
    write(root / "zoo" / NAME / "config.json", config(NAME, "short30", 63.55, "GPU NVIDIA H100 80GB HBM3"))
    for file in ("train_log.csv", "train_stdout.log", "command.txt"):
        write(root / "zoo" / NAME / file, f"short30 {file}\n")
    write(root / "zoo" / NAME / "metrics.json", {"top1": 63.55})
    write(root / "zoo" / NAME / "README.md", f"short30 card; its logs sit next to it\n(`zoo/{NAME}/`).\n")
    write(root / "zoo" / "ce-resnet32-cifar10lt" / "config.json",
          config("ce-resnet32-cifar10lt", "full", 65.0, "GPU NVIDIA H100 80GB HBM3"))
    write(root / "zoo" / "cpmix-resnet32-cifar10lt" / "baseline_recipe.json", {"name": "bs-resnet32-cifar10lt-300ep"})
    write(root / "zoo" / "results" / "README.md",
          f"# Results\n\nintro\n\n## short30\n\n| KPS | 63.55 | [../{NAME}/](../{NAME}/) |\n")
    write(root / "README.md", f"| name | top-1 |\n| `{NAME}` | 63.55 | 70.66 / 35.10 / - | short30, H100 |\n")
    write(root / "MODEL_CARD.md",
          f"| [{NAME}](zoo/{NAME}/) | KPS loss (cosine) | short30 (GA from 18) | 63.55 | 70.66 | 35.10 | - | H100 |\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def finished_run(runs, name, top1):
    run_dir = runs / name
    write(run_dir / "config.json", config(name, "full", top1, "CPU x86_64, 2 cores, torch threads: 2"))
    write(run_dir / "recipe.json", {"name": name, "epochs": 200, "schedule": "full"})
    (run_dir / "model.safetensors").write_bytes(b"weights")
    for file in ("metrics.json", "train_log.csv", "README.md"):
        write(run_dir / file, f"full {file}\n")
    write(run_dir / ".keras-lt.lock", "")
    write(runs / f"{name}.log", f"\n# 2026-11-29T16:28:12Z campaign: python -m keras_lt.cli.main train --recipe {name}\n"
          "Epoch 1/200\n")
    return [
        {"start": "a", "end": "b", "commit": "1" * 40, "exit": -9, "resume": False, "threads": 2,
         "wall_seconds": 3600.0, "cpu_seconds": 7000.0},
        {"start": "c", "end": "d", "commit": "1" * 40, "exit": 0, "resume": True, "threads": 2,
         "wall_seconds": 7200.0, "cpu_seconds": 14000.0},
    ]


def is_finished(run_dir):
    return (run_dir / "model.safetensors").is_file()


def test_ship_moves_short30_brings_the_run_and_updates_tables(repo, tmp_path):
    runs = tmp_path / "runs"
    segments = finished_run(runs, NAME, 80.0)
    entry = type("Entry", (), {"name": NAME})()
    campaign_ship.ship(repo, runs, entry, METHODS, segments, is_finished)

    moved = repo / "zoo" / "results" / "short30-h100" / NAME
    assert (moved / "train_log.csv").read_text() == "short30 train_log.csv\n"
    assert json.loads((moved / "config.json").read_text())["metrics"]["top1"] == 63.55
    assert (moved / "README.md").read_text() == f"short30 card; its logs sit next to it\n(`zoo/results/short30-h100/{NAME}/`).\n"
    assert (repo / "zoo" / NAME / "recipe.json").is_file()  # the recipe stays
    results = (repo / "zoo" / "results" / "README.md").read_text()
    assert f"[short30-h100/{NAME}/](short30-h100/{NAME}/)" in results and f"../{NAME}/](../{NAME}" not in \
        results.split("## short30")[1]

    entry_dir = repo / "zoo" / NAME
    assert (entry_dir / "model.safetensors").read_bytes() == b"weights"
    assert (entry_dir / "train_log.csv").read_text() == "full train_log.csv\n"
    assert not (entry_dir / ".keras-lt.lock").exists()
    assert "Epoch 1/200" in (entry_dir / "train_stdout.log").read_text()
    command = (entry_dir / "command.txt").read_text()
    assert "2 process(es), 3.0 h wall clock, 5.8 CPU-hours" in command and "campaign: python -m keras_lt" in command
    shipped = json.loads((entry_dir / "config.json").read_text())
    assert shipped["dataset"]["data_dir"] == campaign_ship.DATA_DIR  # never the machine's cache path
    assert shipped["run"]["device"].startswith("CPU x86_64, 2 cores (keras-lt campaign)")
    card = (entry_dir / "README.md").read_text()
    assert "Full recipe (200 epochs), 2 CPU cores" in card and "80.00" in card

    readme = (repo / "README.md").read_text()
    assert f"| `{NAME}` | 80.00 | 85.00 / 60.00 / - | full recipe (200 epochs), CPU 2 cores |" in readme
    model_card = (repo / "MODEL_CARD.md").read_text()
    assert (f"| [{NAME}](zoo/{NAME}/) | KPS loss (cosine) | full, 200 epochs | 80.00 | 85.00 | 60.00 | - | "
            "CPU, 2 cores |") in model_card

    table = results.split(campaign_ship.TABLE_START)[1].split(campaign_ship.TABLE_END)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0].startswith("| CE | 65.00 | 70.00 | 45.00 | - | - | - | 70.4 | **no** (-5.4) |")  # no short30 run
    assert rows[1].startswith("| KPS | 80.00 | 85.00 | 60.00 | 63.55 | +15.00 | - | 81.2 | yes (-1.2;")
    assert results.index("## Full recipes") < results.index("## short30")


def test_command_names_the_epochs_a_gpu_trained(tmp_path):
    cpu, _ = finished_run(tmp_path, NAME, 80.0)
    gpu = {"start": "e", "end": "f", "commit": "2" * 40, "exit": None, "resume": True, "threads": None,
           "wall_seconds": 0.0, "cpu_seconds": 0.0, "machine": "H200", "epochs": {"train_log.csv": [180, 200]},
           "epoch_seconds": 248.0}
    lines = campaign_ship.command_text(NAME, [cpu, gpu], "# head").splitlines()
    assert lines[-3].endswith("cpu 7000.0 s")  # a CPU process: no epoch list
    assert "H200" in lines[-2] and lines[-2].endswith("epochs: train_log.csv rows 181-200 (248.0 s of epochs)")


def test_a_run_trained_on_a_gpu_alone_names_only_the_gpu(tmp_path):
    finished_run(tmp_path, NAME, 80.0)
    (tmp_path / f"{NAME}.log").write_text(f"# 2026-11-30T00:22:45Z device: python -m keras_lt.cli.main train --recipe "
                                          f"{NAME}  (commit {'e' * 40}, 2 threads)\nEpoch 1/200\n")
    gpu = {"start": "e", "end": "f", "commit": "e" * 40, "exit": None, "resume": True, "threads": None,
           "wall_seconds": 0.0, "cpu_seconds": 0.0, "machine": "H200 (device tool)",
           "epochs": {"train_log.csv": [0, 200]}, "epoch_seconds": 1000.0}
    idle = {**gpu, "machine": "H100 (device tool)", "epochs": {}}  # an older call that trained none of it
    destination = tmp_path / "shipped"
    destination.mkdir()
    shipped = campaign_ship.bring_run(tmp_path, NAME, [gpu, idle], "200 epochs", destination)
    assert shipped["run"]["device"] == "H200 (device tool)"
    assert shipped["card_note"] == "Full recipe (200 epochs), H200 (device tool); final epoch, no checkpoint selection."
    assert "device: python -m keras_lt.cli.main train" in (destination / "command.txt").read_text()


def test_a_run_over_two_torch_versions_names_each_with_its_machine():
    cpu = {"torch": "2.13.0+cpu"}
    gpu = {"torch": "2.11.0+cu130", "machine": "H200 (device tool)"}
    assert campaign_ship.torch_versions([cpu, gpu, cpu], "2.13.0+cpu") == \
        "2.13.0+cpu on the CPU, 2.11.0+cu130 on H200 (device tool)"
    assert campaign_ship.torch_versions([cpu, {}], "2.13.0+cpu") == "2.13.0+cpu"  # one version (older segments: none)
    assert campaign_ship.torch_versions([gpu, {}], "2.13.0+cpu") == \
        "2.11.0+cu130 on H200 (device tool), 2.13.0+cpu on the CPU"  # the last process wrote the checkpoint


def test_a_stage_2_run_names_the_zoo_checkpoint_it_started_from(tmp_path):
    segments = finished_run(tmp_path, NAME, 80.0)
    run_config = json.loads((tmp_path / NAME / "config.json").read_text())
    run_config["recipe"]["init_from"] = "./cmo-resnet32-cifar10lt"  # the campaign's run, relative to its runs
    write(tmp_path / NAME / "config.json", run_config)
    destination = tmp_path / "shipped"
    destination.mkdir()
    shipped = campaign_ship.bring_run(tmp_path, NAME, segments, "stage 2", destination, "cmo-resnet32-cifar10lt")
    assert shipped["recipe"]["init_from"] == "cmo-resnet32-cifar10lt"  # shipped as the zoo entry of that name
    assert "on the checkpoint `cmo-resnet32-cifar10lt`" in (destination / "README.md").read_text()


def test_machine_words_name_the_gpus_that_continued_a_run():
    words = campaign_ship.machine_words
    assert words("CPU x86_64, 2 cores (keras-lt campaign), torch threads: 2") == "CPU, 2 cores"
    assert words("CPU x86_64, 2 cores (keras-lt campaign), torch threads: 2; part on H200 (device tool)") == \
        "CPU, 2 cores + H200"
    assert words("GPU NVIDIA H100 80GB HBM3") == "H100"
    assert words("H200 (device tool)") == "H200"  # a run the GPU trained alone: named as when it helped


def test_ship_a_baseline_goes_to_results_only_and_refuses_twice(repo, tmp_path):
    runs = tmp_path / "runs"
    name = "bs-resnet32-cifar10lt-300ep"
    segments = finished_run(runs, name, 60.0)
    entry = type("Entry", (), {"name": name})()
    campaign_ship.ship(repo, runs, entry, METHODS, segments, is_finished)
    assert (repo / "zoo" / "results" / "full-cpu" / name / "model.safetensors").is_file()
    assert not (repo / "zoo" / name).exists()
    assert f"| BS 300 | 60.00 | 65.00 | 40.00 | - | -5.00 | - | - | no CIFAR-10-LT figure published" in \
        (repo / "zoo" / "results" / "README.md").read_text()
    with pytest.raises(campaign_ship.ShipError, match="exists already"):
        campaign_ship.ship(repo, runs, entry, METHODS, segments, is_finished)


def test_ship_refuses_an_unfinished_run(repo, tmp_path):
    entry = type("Entry", (), {"name": NAME})()
    with pytest.raises(campaign_ship.ShipError, match="has not finished"):
        campaign_ship.ship(repo, tmp_path / "runs", entry, METHODS, [], is_finished)
