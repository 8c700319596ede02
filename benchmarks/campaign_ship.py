"""Ships a finished campaign run into the zoo: `python benchmarks/campaign.py ship NAME`.

What it does, in the repository (then review `git status` and commit it on its own):

A run that is not a zoo entry (no `zoo/<name>/recipe.json`: CP-Mix's same-budget baseline) goes
to `zoo/results/full-cpu/<name>/` instead, with steps 2, 3 and the table only.

1. The short30 checkpoint in `zoo/<name>/` (weights, card, logs, metrics, command) moves to
   `zoo/results/short30-<machine>/<name>/` (`h100` or `cpu`, from its `config.json`), and the links
   in `zoo/results/README.md` that pointed at `../<name>/` follow it. The recipe files stay.
2. The run's files come in: `config.json`, `model.safetensors`, `metrics.json`, the per-epoch CSV
   logs, the stage-2 and method extras, `train_stdout.log` (the campaign's `<name>.log`), and a
   `command.txt` naming the command, the commits, the machine, and every process of the run.
3. Its `config.json` names the data as the shared copy (not the machine's cache path) and the
   machine as "2 CPU cores (keras-lt campaign)"; the card is regenerated from it with the note
   "Full recipe ..., 2 CPU cores".
4. Its rows in README.md's and MODEL_CARD.md's zoo tables get the new numbers and machine, and
   `zoo/results/README.md`'s full-recipe table (between its `campaign:full-recipes` markers) is
   rewritten from every full-recipe checkpoint in the zoo, beside our CE and BS and the published
   figure the queue names (METHODS.md).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

RECIPE_FILES = ("recipe.json", "baseline_recipe.json")
DATA_TITLE = "CIFAR-10-LT (imbalance factor 100; the JPEG q75 copy of CIFAR-10 in shared/data)"
DATA_DIR = "cifar10-jpeg-q75 (shared/data/cifar10-jpeg-q75.tar.gz)"
RESULTS_ONLY = Path("zoo") / "results" / "full-cpu"  # where a run that is no zoo entry ships (a baseline)
TABLE_START, TABLE_END = "<!-- campaign:full-recipes -->", "<!-- /campaign:full-recipes -->"
BASELINES = ("ce-resnet32-cifar10lt", "bs-resnet32-cifar10lt")  # "vs our CE", "vs our BS"
# A published figure on the PNG originals; the JPEG copy costs about this much (shared/data/README.md).
JPEG_COST = 3.0


class ShipError(SystemExit):
    """A refusal to ship, in one line."""


def short30_machine(config):
    """`h100` or `cpu`: where a zoo entry's current checkpoint was trained, from its config."""
    device = (config.get("run") or {}).get("device", "")
    return "h100" if "H100" in device else "cpu"


def short30_folder(repo, machine, name):
    """Where `move_short30` keeps `name`'s short30 run trained on `machine` (`short30_machine`)."""
    return repo / "zoo" / "results" / f"short30-{machine}" / name


def move_short30(repo, name):
    """Moves `zoo/<name>/`'s checkpoint files (not its recipes) under `zoo/results/short30-*`."""
    entry = repo / "zoo" / name
    config = json.loads((entry / "config.json").read_text())
    if (config.get("recipe") or {}).get("schedule", "full") != "short30":
        raise ShipError(f"zoo/{name} holds a {config['recipe'].get('schedule')} checkpoint, not short30; nothing to move.")
    machine = short30_machine(config)
    target = short30_folder(repo, machine, name)
    if target.exists():
        raise ShipError(f"{target.relative_to(repo)} exists already; move it aside by hand, then ship again.")
    target.mkdir(parents=True)
    for path in sorted(entry.iterdir()):
        if path.is_file() and path.name not in RECIPE_FILES:
            _git_mv(repo, path, target / path.name)
    card = target / "README.md"
    if card.is_file():  # its "sit next to this card" note names the folder it is in now
        card.write_text(card.read_text().replace(f"(`zoo/{name}/`)", f"(`{target.relative_to(repo)}/`)"))
    results = repo / "zoo" / "results" / "README.md"
    if results.is_file():
        moved = f"short30-{machine}/{name}/"
        results.write_text(results.read_text().replace(f"../{name}/", moved))
    return target


def _git_mv(repo, source, target):
    """`git mv` for tracked files (history follows), a plain move otherwise."""
    tracked = subprocess.run(["git", "-C", str(repo), "ls-files", "--error-unmatch", str(source)],
                             capture_output=True).returncode == 0
    if tracked:
        subprocess.run(["git", "-C", str(repo), "mv", str(source), str(target)], check=True)
    else:
        shutil.move(source, target)


def _epochs_trained(segment):
    """The epochs an imported GPU segment trained, in words (empty for a CPU process)."""
    ranges = [f"{log} rows {first + 1}-{end}" for log, (first, end) in (segment.get("epochs") or {}).items()]
    return (f"  epochs: {', '.join(ranges)} ({segment['epoch_seconds']} s of epochs)") if ranges else ""


def command_text(name, segments, log_head):
    """`command.txt`: the command, the commits, the machine and each process of the run."""
    commits = sorted({s["commit"] for s in segments}, key=[s["commit"] for s in segments].index)
    wall = sum(s["wall_seconds"] or 0 for s in segments) / 3600
    cpu = sum(s["cpu_seconds"] or 0 for s in segments) / 3600
    unknown = sum(s["cpu_seconds"] is None for s in segments)
    lines = [
        "# The run behind these numbers: the keras-lt full-recipe campaign (benchmarks/campaign.py) on the",
        "# project's development machine, 2 CPU cores (x86_64), at nice 19 beside other work;",
        f"# {len(segments)} process(es), {wall:.1f} h wall clock, {cpu:.1f} CPU-hours"
        + (f" (CPU time unknown for {unknown}, recovered from the log)" if unknown else "")
        + "; keras-lt at commit(s) " + ", ".join(c[:7] for c in commits) + ".",
        "# Data: tar xzf shared/data/cifar10-jpeg-q75.tar.gz -C ~/.cache/keras-lt (LDAM seed-0 selection).",
        "# Every process ran (PYTHONPATH: the commit's package snapshot; OMP_WAIT_POLICY=PASSIVE):",
        log_head,
        "# Processes (start, end, commit, exit code, --resume, threads, wall and CPU seconds):",
    ]
    lines += [
        f"#   {s['start']} .. {s['end'] or '?'}  {s.get('machine', 'CPU')}  {s['commit'][:7]}  exit {s['exit']}  resume {s['resume']}  "
        f"threads {s['threads']}  wall {s['wall_seconds']} s  cpu "
        + ("unknown" if s["cpu_seconds"] is None else f"{s['cpu_seconds']} s") + _epochs_trained(s)
        for s in segments
    ]
    lines.append(f"# train_stdout.log is its output (the campaign's {name}.log).")
    return "\n".join(lines) + "\n"


def torch_versions(segments, written_by):
    """The run's torch version(s): `written_by` (the process that wrote the checkpoint) if every process
    ran one version, else each version with the machine it ran on ("2.13.0+cpu on the CPU, ...").

    The last process is the one that wrote the checkpoint: without a recorded version (a segment of a
    daemon older than the field) it ran `written_by`.
    """
    versions = {}
    for segment in segments:
        version = segment.get("torch") or (written_by if segment is segments[-1] else None)
        if version:
            versions.setdefault(version, segment.get("machine") or "the CPU")
    if len(versions) < 2:
        return written_by
    return ", ".join(f"{version} on {machine}" for version, machine in versions.items())


def bring_run(runs, name, segments, epochs, destination, init_from_run=None):
    """Copies the run's checkpoint files into `destination` and rewrites its config and card."""
    from keras_lt import hub

    run_dir = runs / name
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and path.name not in ("recipe.json", "README.md") and not path.name.startswith("."):
            shutil.copy2(path, destination / path.name)
    log = (runs / f"{name}.log").read_text()
    shutil.copy2(runs / f"{name}.log", destination / "train_stdout.log")
    first_command = next((line for line in log.splitlines() if re.match(r"# \S+ (campaign|device): ", line)),
                         "# (its first process's command is not in the log)")
    (destination / "command.txt").write_text(command_text(name, segments, first_command))
    config = json.loads((destination / "config.json").read_text())
    config["dataset"].update(title=DATA_TITLE, data_dir=DATA_DIR)
    if init_from_run:  # the campaign's run directory (./NAME) shipped as the zoo entry of the same name
        config["recipe"]["init_from"] = init_from_run
    on_cpu = [s for s in segments if not s.get("machine")]
    others = sorted({s["machine"] for s in segments if s.get("epochs")})  # the GPUs that trained some of its epochs
    threads = max((s["threads"] or 0 for s in on_cpu), default=0)
    config["run"]["device"] = "; ".join(
        ([f"CPU x86_64, 2 cores (keras-lt campaign), torch threads: {threads}"] if on_cpu else [])
        + [f"{'part on ' if on_cpu else ''}{machine}" for machine in others])
    config["run"]["torch"] = torch_versions(segments, config["run"].get("torch"))
    where = " and ".join((["2 CPU cores"] if on_cpu else []) + others)
    config["card_note"] = f"Full recipe ({epochs}), {where}; final epoch, no checkpoint selection."
    (destination / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (destination / "README.md").write_text(hub.model_card(config))
    return config


def machine_words(device):
    """A checkpoint's machine for the tables, from its config's `run.device`: "CPU, 2 cores", with
    " + H200" for each GPU that continued the run (`bring_run`'s "; part on ..."), "H100", or the GPU
    of a run trained there alone ("H200")."""
    if not device.startswith("CPU"):
        return "H100" if "H100" in device else device.split(" (")[0]
    parts = re.findall(r"; part on ([^;(]+)", device)
    return "CPU, 2 cores" + "".join(f" + {part.strip()}" for part in parts)


def update_zoo_rows(repo, name, config, schedule_words):
    """The name's row in README.md's and MODEL_CARD.md's zoo tables: new numbers and machine."""
    metrics, machine = config["metrics"], machine_words(config["run"]["device"])
    top1, many, medium = (f"{metrics[k]:.2f}" for k in ("top1", "many", "medium"))
    few = f"{metrics['few']:.2f}" if metrics.get("few") is not None else "-"
    readme = repo / "README.md"
    text, count = re.subn(
        rf"^(\| `{re.escape(name)}`[^|]*)\|.*$",
        lambda m: f"{m.group(1)}| {top1} | {many} / {medium} / {few} | full recipe ({schedule_words}), "
                  f"{machine.replace('CPU, ', 'CPU ')} |",
        readme.read_text(), flags=re.M)
    card = repo / "MODEL_CARD.md"
    card_text, card_count = re.subn(
        rf"^(\| \[{re.escape(name)}\]\([^)]*\) \|[^|]*)\|.*$",
        lambda m: f"{m.group(1)}| full, {schedule_words} | {top1} | {many} | {medium} | {few} | {machine} |",
        card.read_text(), flags=re.M)
    if count != 1 or card_count != 1:
        raise ShipError(f"{name}: expected one row in README.md's and MODEL_CARD.md's zoo tables "
                        f"(found {count} and {card_count}); add the row, then ship again.")
    readme.write_text(text)
    card.write_text(card_text)


def short30_top1(repo, name):
    """The top-1 of the short30 run that `name`'s full recipe replaced (the H100 one where there are two), or None."""
    for machine in ("h100", "cpu"):
        path = short30_folder(repo, machine, name) / "metrics.json"
        if path.is_file():
            return json.loads(path.read_text())["top1"]
    return None


def full_recipe_table(repo, methods):
    """Markdown rows: every full-recipe zoo checkpoint beside its short30 run, our CE and BS and its published figure.

    Args:
        repo: the repository root.
        methods: zoo name -> {"label": ..., "published": top-1 or None}, in table order (the queue's).
    """
    rows = {}
    for name, method in methods.items():
        for folder, link in ((repo / "zoo" / name, f"../{name}/"), (repo / RESULTS_ONLY / name, f"full-cpu/{name}/")):
            if (folder / "config.json").is_file():
                config = json.loads((folder / "config.json").read_text())
                if (config.get("recipe") or {}).get("schedule") == "full" and config.get("metrics"):
                    rows[name] = (method, config, link)
    baselines = {name: rows[name][1]["metrics"]["top1"] for name in BASELINES if name in rows}
    lines = [
        "| method | top-1 | many | medium | short30 top-1 | vs our CE | vs our BS | published (PNG) | reproduced? | machine "
        "| run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, (method, config, link) in rows.items():
        m = config["metrics"]
        gains = [f"{m['top1'] - baselines[b]:+.2f}" if b in baselines and b != name else "-" for b in BASELINES]
        published = method.get("published")
        if published is None:
            verdict = "no CIFAR-10-LT figure published"
        elif m["top1"] >= published - JPEG_COST:
            verdict = f"yes ({m['top1'] - published:+.1f}; the JPEG copy costs 2-3)"
        else:
            verdict = f"**no** ({m['top1'] - published:+.1f})"
        machine = machine_words(config["run"]["device"])
        short30 = short30_top1(repo, name)
        lines.append(f"| {method['label']} | {m['top1']:.2f} | {m['many']:.2f} | {m['medium']:.2f} | "
                     f"{'-' if short30 is None else f'{short30:.2f}'} | {gains[0]} | "
                     f"{gains[1]} | {published if published is not None else '-'} | {verdict} | {machine} | "
                     f"[{link}]({link}) |")
    return "\n".join(lines)


def write_full_recipe_table(repo, methods):
    """Rewrites the table between the markers of `zoo/results/README.md`, or adds it after the intro."""
    results = repo / "zoo" / "results" / "README.md"
    text = results.read_text()
    block = f"{TABLE_START}\n{full_recipe_table(repo, methods)}\n{TABLE_END}"
    if TABLE_START in text:
        text = re.sub(rf"{re.escape(TABLE_START)}.*?{re.escape(TABLE_END)}", lambda _: block, text, flags=re.S)
    else:
        head, sep, rest = text.partition("\n## ")
        section = ("## Full recipes: the campaign's table\n\nEvery full-recipe checkpoint in the zoo, final epoch, "
                   "with the top-1 of the short30 run it replaced,\nits gain over our own full-recipe CE and BS and "
                   "the figure METHODS.md reports for the PNG originals\n(`benchmarks/campaign.py ship` writes this "
                   "table).\n\n" + block + "\n\n")
        text = head + "\n" + section + sep.lstrip("\n") + rest if sep else text + "\n" + section
    results.write_text(text)


def ship(repo, runs, entry, methods, segments, is_finished):
    """Ships the finished run `entry` into the zoo (see the module docstring). Returns the new metrics."""
    run_dir = runs / entry.name
    if not is_finished(run_dir):
        raise ShipError(f"{entry.name} has not finished (see: python benchmarks/campaign.py status).")
    if not segments:
        raise ShipError(f"{entry.name} has no campaign segments in {runs}; it was not trained by the campaign.")
    recipe = json.loads((run_dir / "recipe.json").read_text())
    epochs = f"{recipe['epochs']} epochs" if not recipe.get("init_from") else "stage 2"
    if recipe.get("finetune"):
        epochs += f" + {recipe['finetune']['epochs']}-epoch {recipe['finetune']['method']} stage 2"
    zoo_entry = repo / "zoo" / entry.name
    init_from_run = getattr(entry, "init_from_run", None)
    if (zoo_entry / "recipe.json").is_file():  # a zoo entry: its short30 checkpoint makes way
        if (zoo_entry / "config.json").is_file():
            move_short30(repo, entry.name)
        config = bring_run(runs, entry.name, segments, epochs, zoo_entry, init_from_run)
        update_zoo_rows(repo, entry.name, config, epochs)
    else:  # a comparison run (CP-Mix's same-budget baseline): results only
        target = repo / RESULTS_ONLY / entry.name
        if target.exists():
            raise ShipError(f"{target.relative_to(repo)} exists already; move it aside by hand, then ship again.")
        target.mkdir(parents=True)
        config = bring_run(runs, entry.name, segments, epochs, target, init_from_run)
    write_full_recipe_table(repo, methods)
    os.sync()
    return config["metrics"]
