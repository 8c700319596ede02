"""`keras-lt list`, `info` and `push`: the zoo's checkpoints and publishing them on the Hub."""

import json
import os

import click

from keras_lt import hub
from keras_lt.cli.errors import one_line_errors
from keras_lt.data.profiles import imbalance_factor
from keras_lt.data.profiles import shot_groups
from keras_lt.errors import KerasLTError
from keras_lt.presets import describe_method
from keras_lt.recipes import load_recipe

METRICS = (  # config key, label, unit (evaluation's units: percentages or fractions)
    ("top1", "top-1", "%"), ("top5", "top-5", "%"), ("many", "many", "%"), ("medium", "medium", "%"),
    ("few", "few", "%"), ("balanced_accuracy", "balanced", "%"), ("macro_f1", "macro-F1", ""),
    ("g_mean", "G-mean", ""), ("ece", "ECE", ""),
)
MAX_LISTED_CLASSES = 10


def dataset_title(config):
    """The dataset a checkpoint was trained on, as its config names it, or None."""
    dataset = (config or {}).get("dataset") or {}
    return dataset.get("title") or dataset.get("name")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@one_line_errors
def list_command(as_json):
    """List the zoo's models: bundled, trained locally or not published."""
    rows = []
    for name in hub.list_models():
        info = hub.model_info(name)
        metrics = (info["config"] or {}).get("metrics") or {}
        rows.append({**info, "top1": metrics.get("top1"), "dataset": dataset_title(info["config"])})
    if as_json:
        click.echo(json.dumps([{k: r[k] for k in ("name", "status", "path", "top1", "dataset")} for r in rows], indent=2))
        return
    width = max(4, *(len(r["name"]) for r in rows))
    click.echo(f"{'name':<{width}}  {'status':<15}  {'top-1':>7}  dataset")
    for r in rows:
        top1 = "-" if r["top1"] is None else f"{r['top1']:.2f}%"
        click.echo(f"{r['name']:<{width}}  {r['status']:<15}  {top1:>7}  {r['dataset'] or '-'}")


def checkpoint_info(name_or_path):
    """`{"name", "status", "path", "config"}` of a zoo name, a checkpoint directory or an hf:// repo."""
    if not (name_or_path.startswith(hub.HF_PREFIX) or os.path.isdir(name_or_path)):
        return hub.model_info(name_or_path)
    path = hub.resolve(name_or_path)
    config = hub.read_config(path)
    status = "Hugging Face Hub" if name_or_path.startswith(hub.HF_PREFIX) else "directory"
    return {"name": config.get("name", name_or_path), "status": status, "path": path, "config": config}


def describe_architecture(architecture):
    """`resnet32 (num_classes=10, classifier=linear, ...)`; the normalisation constants left out."""
    arguments = {k: v for k, v in architecture.items() if k not in ("name", "mean", "std")}
    return f"{architecture.get('name', '?')} ({', '.join(f'{k}={v}' for k, v in arguments.items())})"


def describe_classes(config):
    """The number of classes and their first names."""
    names = config.get("class_names") or []
    shown = ", ".join(names[:MAX_LISTED_CLASSES])
    if len(names) > MAX_LISTED_CLASSES:
        shown += f", ... (+{len(names) - MAX_LISTED_CLASSES})"
    return f"{config.get('num_classes')}: {shown}" if names else str(config.get("num_classes"))


def describe_counts(counts):
    """Training images, imbalance factor and the sizes of the shot groups."""
    groups = {name: len(idx) for name, idx in shot_groups(counts).items()}
    return (
        f"{sum(counts)} images, {max(counts)} to {min(counts)} per class, imbalance factor "
        f"{imbalance_factor(counts):.1f}; many {groups['many']}, medium {groups['medium']}, few {groups['few']} classes"
    )


def describe_recipe(recipe):
    """Method and ingredients, loss and its settings, classifier, sampler, schedule and stage 2 of a recipe dict."""
    loss_config = ", ".join(f"{k}={v}" for k, v in (recipe.get("loss_config") or {}).items())
    return (
        f"{describe_method(recipe)}, loss {recipe.get('loss')}{f' ({loss_config})' if loss_config else ''}, "
        f"{recipe.get('classifier')} classifier, sampler {recipe.get('sampler')}, {recipe.get('epochs')} epochs "
        f"(schedule {recipe.get('schedule')}), batch {recipe.get('batch_size')}, lr {recipe.get('lr')}"
        + (f", then stage 2 {recipe['finetune'].get('method')}" if recipe.get("finetune") else "")
    )


def describe_metrics(metrics):
    """The headline test metrics present, percentages with `%`."""
    return "  ".join(
        f"{label} {metrics[key]:.2f}%" if unit == "%" else f"{label} {metrics[key]:.4f}"
        for key, label, unit in METRICS
        if metrics.get(key) is not None
    )


def describe(config):
    """(field, text) lines summarising a checkpoint config."""
    lines = [
        ("architecture", describe_architecture(config.get("architecture") or {})),
        ("classes", describe_classes(config)),
        ("dataset", dataset_title(config) or "-"),
    ]
    if config.get("train_class_counts"):
        lines.append(("train counts", describe_counts(config["train_class_counts"])))
    if config.get("recipe"):
        lines.append(("recipe", describe_recipe(config["recipe"])))
    lines.append(("test metrics", describe_metrics(config.get("metrics") or {}) or "-"))
    return lines


@click.command()
@click.argument("name_or_dir")
@click.option("--json", "as_json", is_flag=True, help="Print the raw config.json.")
@one_line_errors
def info(name_or_dir, as_json):
    """Show a checkpoint's architecture, classes, counts, recipe and metrics.

    NAME_OR_DIR is a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION].
    """
    checkpoint = checkpoint_info(name_or_dir)
    config = checkpoint["config"]
    if config is None:  # a zoo recipe whose weights are not published
        recipe = load_recipe(checkpoint["name"]).to_dict()
        if as_json:
            click.echo(json.dumps({"name": checkpoint["name"], "status": checkpoint["status"], "recipe": recipe}, indent=2))
            return
        lines = [
            ("status", f"not published; train it with: keras-lt train --recipe {checkpoint['name']} --data-dir DIR"),
            ("recipe", describe_recipe(recipe)),
        ]
    elif as_json:
        click.echo(json.dumps(config, indent=2))
        return
    else:
        lines = [("status", f"{checkpoint['status']} ({checkpoint['path']})"), *describe(config)]
    for field, text in [("name", checkpoint["name"]), *lines]:
        click.echo(f"{field:<13} {text}")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="The Hub model repo, ORG/NAME.")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--dry-run", is_flag=True, help="Only list the files that would be uploaded.")
@click.option("--token", help="Hugging Face token [default: the logged-in one, or HF_TOKEN].")
@one_line_errors
def push(directory, repo_id, private, dry_run, token):
    """Publish a checkpoint DIRECTORY on the Hugging Face Hub.

    Uploads config.json, model.safetensors and README.md (the model card) to ORG/NAME.
    """
    if not hub.is_repo_id(repo_id):
        raise KerasLTError(f"--repo-id must be ORG/NAME (letters, digits, '-', '_', '.'), got '{repo_id}'.")
    visibility = "private" if private else "public"
    if dry_run:
        files = hub.push(directory, repo_id, private=private, dry_run=True)
        click.echo(f"would upload to https://huggingface.co/{repo_id} ({visibility}):")
        for name in files:
            click.echo(f"  {os.path.join(directory, name)}  ({os.path.getsize(os.path.join(directory, name)):,} bytes)")
        return
    from huggingface_hub.errors import HTTPError

    try:
        url = hub.push(directory, repo_id, private=private, token=token)
    except (OSError, HTTPError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise KerasLTError(f"cannot push to {repo_id}: {first_line}") from None
    click.echo(f"pushed {directory} to https://huggingface.co/{repo_id} ({visibility}): {url}")
