"""Checkpoints as Hugging Face Hub model repos: `config.json`, `model.safetensors`, `README.md`.

`from_pretrained` resolves a zoo name, a local directory or `hf://org/name[@revision]`;
`save_pretrained` writes the three files; `push` publishes a directory with `huggingface_hub`.
"""

import json
import os
import re

import numpy as np

from keras_lt.checkpoint_validation import check_config
from keras_lt.checkpoint_validation import check_weights
from keras_lt.errors import CheckpointError
from keras_lt.errors import KerasLTError
from keras_lt.errors import UnknownModelError
from keras_lt.presets import describe_method
from keras_lt.recipes import is_path
from keras_lt.recipes import unknown_zoo_name
from keras_lt.recipes import zoo_root

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)
# What a training run leaves beside its checkpoint (keras_lt.training), uploaded with it by `push`.
RUN_FILES = ("recipe.json", "metrics.json", "train_log.csv", "finetune_log.csv", "metrics_before_finetune.json",
             "training_confusion.json", "afr_split.json")
HF_PREFIX = "hf://"
MODEL_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")  # a zoo or checkpoint name: one path component
REPO_ID = re.compile(rf"{MODEL_NAME.pattern}/{MODEL_NAME.pattern}")  # ORG/NAME
REVISION = re.compile(rf"{MODEL_NAME.pattern}(/{MODEL_NAME.pattern})*")  # a branch, tag or commit


def is_model_name(name):
    """Whether `name` can name a zoo entry or checkpoint directory: letters, digits, '.', '_', '-', no '..'.

    Args:
        name: the name to check (any object: only a string can pass).

    Example:
    >>> is_model_name("ce-resnet32-cifar10lt"), is_model_name("../x")
    (True, False)
    """
    return isinstance(name, str) and bool(MODEL_NAME.fullmatch(name)) and ".." not in name


def is_repo_id(repo_id):
    """Whether `repo_id` is a Hub model repo id, ORG/NAME, each a name as `is_model_name` takes.

    Args:
        repo_id: the id to check, without `hf://` or a revision.

    Example:
    >>> is_repo_id("someone/tiny"), is_repo_id("../x")
    (True, False)
    """
    return bool(REPO_ID.fullmatch(repo_id)) and ".." not in repo_id


def local_checkpoints_dir():
    """Where `keras-lt train` puts checkpoints that a zoo name loads: `<cache>/checkpoints`."""
    from keras_lt.data.sources import cache_dir

    return os.path.join(cache_dir(), "checkpoints")


def _is_checkpoint(directory):
    """Whether a checkpoint's files are in `directory`; what they hold is checked as it loads (`read_config`).

    A run asks more of a directory it protects (`keras_lt.run_directory.holds_checkpoint`).
    """
    return all(os.path.isfile(os.path.join(directory, f)) for f in (CONFIG_FILE, WEIGHTS_FILE))


def list_models():
    """Names of the zoo's checkpoints (recipes whose weights are not published yet included).

    Example:
    >>> "ce-resnet32-cifar10lt" in list_models()
    True
    """
    from keras_lt.recipes import zoo_names

    return zoo_names()


def model_info(name):
    """Where a zoo name's weights are and its config, or why they are missing.

    Returns:
        A dict with `name`, `status` ("bundled", "trained locally" or "not published"),
        `path` and `config` (None when not published).

    Raises:
        UnknownModelError: no zoo name; the message says whether `name` is a file (an image given
            where the model goes), a directory that is not there or a misspelt zoo name.
    """
    if is_model_name(name) and not is_path(name):
        for status, directory in (
            ("bundled", os.path.join(zoo_root(), name)),
            ("trained locally", os.path.join(local_checkpoints_dir(), name)),
        ):
            if _is_checkpoint(directory):
                return {"name": name, "status": status, "path": directory, "config": read_config(directory)}
        if name in list_models():
            return {"name": name, "status": "not published", "path": None, "config": None}
    if os.path.isfile(name):  # e.g. `keras-lt predict cat.jpg`: the model left out
        raise UnknownModelError(
            f"{name} is a file, not a model: the first argument is the model (a zoo name, a checkpoint directory "
            "or hf://ORG/NAME), the images come after it."
        )
    if is_path(name):  # not a zoo name: a directory that is not there
        raise UnknownModelError(f"no checkpoint directory {name}; check the path (a zoo model is given by its name).")
    accepted = "a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION]"
    raise UnknownModelError(unknown_zoo_name("model", name, accepted))


def resolve(name_or_path, revision=None):
    """The local directory holding the checkpoint `name_or_path` refers to (downloading if hf://)."""
    if name_or_path.startswith(HF_PREFIX):
        return _download(name_or_path[len(HF_PREFIX):], revision)
    if os.path.isdir(name_or_path):
        if not _is_checkpoint(name_or_path):
            raise CheckpointError(
                f"{name_or_path} is not a keras-lt checkpoint: it needs {CONFIG_FILE} and {WEIGHTS_FILE}."
            )
        return name_or_path
    info = model_info(name_or_path)
    if info["path"] is None:
        raise KerasLTError(
            f"the weights of '{name_or_path}' are not published yet; train them with: "
            f"keras-lt train --recipe {name_or_path} --data-dir DIR"
        )
    return info["path"]


def _download(repo_id, revision):
    from huggingface_hub import errors, snapshot_download

    if "@" in repo_id:
        repo_id, revision = repo_id.split("@", 1)
    if not is_repo_id(repo_id):
        raise UnknownModelError(f"hf://{repo_id} is not a Hub model: give hf://ORG/NAME[@REVISION].")
    if revision is not None and (not REVISION.fullmatch(revision) or ".." in revision):
        raise KerasLTError(
            f"hf://{repo_id}: '{revision}' is not a revision: a branch, tag or commit is letters, digits, "
            "'.', '_', '-' and '/', without '..'."
        )
    try:
        return snapshot_download(repo_id, revision=revision, allow_patterns=list(CHECKPOINT_FILES))
    except errors.LocalEntryNotFoundError:
        raise KerasLTError(
            f"hf://{repo_id} is not in the local Hugging Face cache and the Hub cannot be reached "
            "(HF_HUB_OFFLINE is set or there is no network); download it once online."
        ) from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.HFValidationError) as e:
        first_line = str(e).splitlines()[0]
        raise KerasLTError(f"cannot load hf://{repo_id}: {first_line}") from None


def from_pretrained(name_or_path, revision=None, num_classes=None, class_names=None):
    """Loads a checkpoint as a `keras.Model` that takes images (0..255, NHWC) and returns logits.

    With `num_classes` (timm's and KerasHub's habit) the pretrained backbone comes with a new,
    freshly initialised classifier of that many classes, to fine-tune on other data.

    Args:
        name_or_path: a zoo name (`keras_lt.list_models()`), a local checkpoint directory, or
            `hf://ORG/NAME` (optionally `@REVISION`), fetched with `huggingface_hub` (which honours
            `HF_HUB_OFFLINE` and its cache).
        revision: a branch, tag or commit of an `hf://` repo.
        num_classes: give the model a new head of this many classes (the backbone keeps its weights).
        class_names: the new head's class names (with `num_classes`).

    Returns:
        The model, with its `config.json` content in `model.keras_lt_config` and its class names
        (label order) in `model.class_names` (None if the checkpoint has none).

    Example:
    >>> model = keras_lt.from_pretrained("ce-resnet32-cifar10lt")
    >>> logits = model.predict(images)  # uint8 (N, 32, 32, 3)
    >>> flowers = keras_lt.from_pretrained("ce-resnet32-cifar10lt", num_classes=5)
    """
    from keras_lt import models  # Keras: imported when a model is built, not to list or describe one

    if class_names is not None and num_classes is None:
        raise KerasLTError("class_names name the classes of a new head: pass num_classes too.")
    if class_names is not None and len(class_names) != num_classes:
        raise KerasLTError(
            f"class_names name the classes of a new head: give as many as num_classes ({len(class_names)} names, "
            f"num_classes {num_classes})."
        )
    directory = resolve(name_or_path, revision)
    config = read_config(directory)
    weights = os.path.join(directory, WEIGHTS_FILE)
    check_weights(config, weights)  # before anything is built from the config
    try:
        model = models.build(config["architecture"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{directory}/{CONFIG_FILE} has an unusable architecture: {e}") from None
    load_weights(model, weights)
    model.keras_lt_config = config
    if num_classes is not None:
        model = models.rebuild(model, fresh=("classifier", "logit_scale"), num_classes=num_classes)
        names = None if class_names is None else [str(name) for name in class_names]
        model.keras_lt_config = {"architecture": model.keras_lt_config["architecture"], "class_names": names}
    model.class_names = model.keras_lt_config.get("class_names")
    return model


def read_config(directory):
    """The `config.json` of a checkpoint directory, checked (`keras_lt.checkpoint_validation.check_config`).

    Args:
        directory: a checkpoint directory.

    Raises:
        CheckpointError: unreadable, or a field of the wrong type, range or length.

    Example:
    >>> read_config("runs/ce")["num_classes"]
    10
    """
    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    check_config(config, path)
    return config


def load_weights(model, path):
    """Assigns every weight of `model` from a safetensors file keyed by `variable.path`.

    Raises:
        CheckpointError: missing or unexpected tensors, shapes or kinds (float, int, bool) that
            differ, or weights that are not finite.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    expected = {v.path: v for v in model.weights}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the architecture in its config: {len(missing)} weights missing "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})."
        )
    for key, variable in expected.items():
        if tuple(tensors[key].shape) != tuple(variable.shape):
            raise CheckpointError(
                f"{path}: weight {key} has shape {tensors[key].shape}, the model expects {variable.shape}."
            )
        if tensors[key].dtype.kind != np.dtype(variable.dtype).kind:
            raise CheckpointError(f"{path}: weight {key} is {tensors[key].dtype}, the model expects {variable.dtype}.")
        if tensors[key].dtype.kind == "f" and not np.isfinite(tensors[key]).all():
            raise CheckpointError(f"{path}: weight {key} holds NaN or infinite values.")
        variable.assign(tensors[key])


def save_pretrained(
    model,
    directory,
    class_names=None,
    train_class_counts=None,
    dataset=None,
    recipe=None,
    metrics=None,
    model_name=None,
    run=None,
):
    """Writes a checkpoint as a Hub model repo: `config.json`, `model.safetensors`, `README.md`.

    Args:
        model: a keras-lt model (it carries its architecture in `model.keras_lt_config`).
        directory: output directory (created).
        class_names: names of the classes, in label order.
        train_class_counts: training images per class (defines many/medium/few).
        dataset: e.g. `{"name": "cifar10", "imbalance_factor": 100, "data_dir": ...}`.
        recipe: the recipe dict the model was trained with.
        metrics: the evaluation report (`keras_lt.evaluation.evaluate_predictions`).
        model_name: the checkpoint's name; defaults to the directory name.
        run: where and how long it trained, e.g. `keras_lt.run_directory.run_info(...)`: the machine the
            card's numbers come from.

    Returns:
        The config dict written.

    Raises:
        CheckpointError: a config that `read_config` would refuse (e.g. an input side over 1024, class
            names or counts of another length than the classes); nothing is written.

    Example:
    >>> keras_lt.save_pretrained(model, "out/my-model", class_names=names, train_class_counts=counts)
    """
    from safetensors.numpy import save_file

    previous = dict(getattr(model, "keras_lt_config", None) or {})
    if "architecture" not in previous:
        raise CheckpointError(
            "this model has no keras-lt architecture to save: build it by name, keras_lt.models.build({\"name\": "
            "\"resnet32\", \"num_classes\": 10}) or keras_lt.models.resnet32(10) (cifar_resnet and other builders "
            "make a plain Keras model)."
        )
    name = model_name or previous.get("name") or os.path.basename(os.path.abspath(directory))
    architecture = dict(previous["architecture"])
    config = {
        "name": name,
        "library": "keras-lt",
        "architecture": architecture,
        "num_classes": architecture["num_classes"],
        "class_names": [
            str(n) for n in (class_names if class_names is not None else previous.get("class_names") or [])
        ],
        "train_class_counts": [int(n) for n in (train_class_counts if train_class_counts is not None else previous.get("train_class_counts", []))],
        "preprocessing": {
            "input": "RGB images, uint8 or float in 0..255, NHWC; normalised inside the model",
            "image_size": architecture.get("input_shape", [None, None, 3])[:2],
            "mean": architecture.get("mean"),
            "std": architecture.get("std"),
        },
        "dataset": dataset or previous.get("dataset"),
        "recipe": recipe or previous.get("recipe"),
        "metrics": _headline_metrics(metrics) if metrics else previous.get("metrics"),
        "run": run or previous.get("run"),
    }
    check_config(config, f"cannot save {directory}", remedy="keras_lt.from_pretrained could not load it")
    os.makedirs(directory, exist_ok=True)
    tensors = {v.path: np.ascontiguousarray(np.asarray(v.numpy())) for v in model.weights}
    save_file(tensors, os.path.join(directory, WEIGHTS_FILE), metadata={"format": "keras-lt"})
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2)
    # A name from a file name that is not UTF-8 (a folder "dat\xe9") is exact in config.json (escaped)
    # and a "?" in the card, which stays UTF-8 for the Hub.
    with open(os.path.join(directory, CARD_FILE), "w", encoding="utf-8", errors="replace") as f:
        f.write(model_card(config))
    return config


HEADLINE = ("top1", "top5", "many", "medium", "few", "macro_f1", "balanced_accuracy", "g_mean", "ece")


def _headline_metrics(report):
    return {k: report[k] for k in HEADLINE + ("num_samples", "group_sizes") if k in report}


def model_card(config, folder=None):
    """The README.md model card: Hub YAML (`library_name`, datasets, model-index) and a summary.

    Args:
        config: the checkpoint's `config.json` content.
        folder: where the card sits in the keras-lt repository, beside the run's recipe, command and
            logs (default: `zoo/<name>` for a zoo checkpoint; None and not in the zoo: not said).

    Example:
    >>> card = model_card(read_config("runs/ce"))
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    dataset = config.get("dataset") or {}
    dataset_id = dataset.get("name", "custom")
    dataset_title = dataset.get("title", dataset_id)
    metrics = config.get("metrics") or {}
    names = {"top1": "Top-1 accuracy", "top5": "Top-5 accuracy", "many": "Many-shot accuracy",
             "medium": "Medium-shot accuracy", "few": "Few-shot accuracy"}
    results = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type=dataset_id,
            dataset_name=dataset_title,
            dataset_split="test",
            metric_type="accuracy",
            metric_name=label,
            metric_value=round(float(metrics[key]), 2),
        )
        for key, label in names.items()
        if metrics.get(key) is not None
    ]
    data = ModelCardData(
        library_name="keras-lt",
        model_name=config["name"],
        datasets=None if dataset_id == "folder" else [dataset_id],  # a Hub dataset id, not the user's folder
        license=(config.get("recipe") or {}).get("license"),
        metrics=["accuracy"],
        tags=["image-classification", "long-tailed", "keras", "pytorch"],
        pipeline_tag="image-classification",
        eval_results=results or None,
    )
    recipe = config.get("recipe") or {}
    rows = "\n".join(
        f"| {label} | {metrics[key]:.2f} |" for key, label in names.items() if metrics.get(key) is not None
    )
    folder = folder or (f"zoo/{config['name']}" if config["name"] in list_models() else None)
    zoo_note = (
        f"The recipe, command and training log sit next to this card in the keras-lt repository\n(`{folder}/`).\n"
        if folder
        else ""
    )
    note = f"\n**{config['card_note']}**\n" if config.get("card_note") else ""  # e.g. a superseded recipe
    load_name = config["name"] if config["name"] in list_models() else f"path/to/{config['name']}"  # its folder
    selected = (config.get("run") or {}).get("selected_epoch")
    selection = (
        f"\nThe weights are those of epoch {selected}, the best on a validation split held out of the training "
        "data (never the test split).\n" if selected is not None else ""
    )
    body = f"""
# {config['name']}

A {config['architecture']['name']} trained with keras-lt {_training_summary(recipe)} on {dataset_title}.
{note}
```python
import keras_lt
model = keras_lt.from_pretrained("{load_name}")  # or "hf://ORG/{config['name']}" once pushed
logits = model.predict(images)  # RGB uint8 (N, H, W, 3), 0..255
print(model.class_names[logits.argmax(-1)[0]])
```
{selection}
## Test metrics ({"checkpoint selected on the validation split" if selection else "final epoch"}, test split)

| metric | value |
| --- | --- |
{rows or '| (not evaluated) | |'}

Many/medium/few: classes with more than 100 / 20..100 / fewer than 20 training images.
{_run_note(config.get("run"))}{zoo_note}"""
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body))


def _training_summary(recipe):
    """How the card's model was trained, in words: stage 1 (or the checkpoint it started from) and stage 2."""
    schedule = f"schedule `{recipe.get('schedule', '?')}`"
    finetune = recipe.get("finetune") or {}
    stage2 = f"stage 2 `{finetune.get('method')}` ({finetune.get('epochs', 'default')} epochs)" if finetune else ""
    if recipe.get("init_from"):
        return f"({stage2} on the checkpoint `{recipe['init_from']}`, {schedule})"
    stage1 = f"{describe_method(recipe, quote='`')}, loss `{recipe.get('loss', '?')}`, {recipe.get('epochs', '?')} epochs"
    return f"({stage1}, then {stage2}; {schedule})" if stage2 else f"({stage1}; {schedule})"


def _run_note(run):
    """The card's line naming the machine and time the numbers come from."""
    if not run:
        return ""
    minutes = run.get("train_seconds", 0) / 60
    return (
        f"Trained on {run.get('device', '?')} (torch {run.get('torch', '?')}, keras {run.get('keras', '?')}, "
        f"keras-lt {run.get('keras_lt', '?')}) in {minutes:.1f} minutes of training epochs.\n"
    )


def push(directory, repo_id, private=False, dry_run=False, token=None, commit_message=None):
    """Publishes a checkpoint directory to the Hub: `create_repo` + one `upload_folder`.

    The checkpoint's files go up with the run's recipe, metrics and logs beside them (`RUN_FILES`).

    Args:
        directory: a checkpoint directory written by `save_pretrained`.
        repo_id: "ORG/NAME".
        private: create the repo private.
        dry_run: only return the files that would be uploaded.
        token: a Hub token (default: the logged-in one).
        commit_message: the commit message.

    Returns:
        The list of files (dry run) or the commit URL.

    Raises:
        CheckpointError: `directory` is no checkpoint, or one that `from_pretrained` would refuse
            (its config, or weights that are truncated or do not fit it): nothing is uploaded.
    """
    if not _is_checkpoint(directory):
        raise CheckpointError(f"{directory} is not a keras-lt checkpoint ({CONFIG_FILE} + {WEIGHTS_FILE}).")
    from_pretrained(directory)  # every check of loading it, so that what is published loads
    files = [f for f in CHECKPOINT_FILES + RUN_FILES if os.path.isfile(os.path.join(directory, f))]
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=directory,
        repo_id=repo_id,
        allow_patterns=files,
        commit_message=commit_message or f"Upload {os.path.basename(os.path.abspath(directory))} with keras-lt",
    )
    return str(getattr(commit, "commit_url", commit))
