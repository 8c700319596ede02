"""Recipes: everything a training run needs to be repeated, as one JSON-serialisable dataclass."""

import dataclasses
import json
import numbers
import os
import typing
from importlib import resources

from keras_lt.checkpoint_validation import MAX_IMAGE_SIDE
from keras_lt.errors import KerasLTError
from keras_lt.errors import did_you_mean
from keras_lt.presets import ingredient_specs
from keras_lt.ranges import Range
from keras_lt.ranges import is_number
from keras_lt.ranges import shown

RECIPE_FILE = "recipe.json"
CLOSE_ZOO_NAMES = 3  # the zoo names an unknown name's message offers
# The smallest image side: ResNet-32 (stride 4) trains a batch of one image from 5x5 on (a 2x2 map for
# its last BatchNorm, which needs more than one value per channel); in batches of two or more images
# every architecture trains from 1x1 on, while the ImageNet ResNets (stride 32) need 33x33 for a batch of one.
MIN_IMAGE_SIDE = 5


@dataclasses.dataclass
class Recipe:
    """A training recipe; the zoo's recipes live in `zoo/<name>/recipe.json`.

    Attributes:
        name: the checkpoint name this recipe produces, e.g. "ce-resnet32-cifar10lt".
        dataset: "cifar10", "cifar100", "folder" (an image folder), or a benchmark read from its
            split files: "imagenet_lt", "places_lt", "inat2018" (`keras_lt.data.split_files`).
        imbalance_factor: exponential long-tail profile applied to the (balanced) training split with
            the LDAM selection; None trains on the split as it is (your own long-tailed folder).
        selection_seed: seed of the LDAM selection (0 is the split papers use).
        architecture: a key of `keras_lt.models.ARCHITECTURES`.
        classifier: "linear" or "cosine".
        method: a named preset of ingredients (`keras_lt.presets.PRESETS`: "erm", "mixup", "cmo", "cpmix", "lcreg"),
            to which `mixer` and `regularizers` add.
        method_config: the preset's settings, e.g. CP-Mix's `{"alpha": 1.0, "rho": 0.5, "eta": 1.0}`.
        mixer: a batch mixer, `{"name": ..., **settings}` (`keras_lt.trainers.MIXERS`: "mixup",
            "cmo"), or None; a recipe has at most one (its method's or this one).
        regularizers: regularisers added to the loss, each `{"name": ..., **settings}`
            (`keras_lt.trainers.REGULARIZERS`: "cpmix", "latent_reconstruction", "latent_isda"),
            after the method's. Epoch switches are settings of their ingredient ("start_epoch",
            "window").
        loss: a key of `keras_lt.losses.LOSSES` (or an alias).
        loss_config: the loss's hyperparameters.
        epochs: training epochs.
        batch_size: images per batch.
        lr: peak learning rate.
        momentum: SGD momentum.
        weight_decay: coupled L2, as `torch.optim.SGD(weight_decay=...)`.
        warmup_epochs: epochs of linear warmup.
        lr_decay: "step" (the milestones and factors below) or "cosine" (to 0 at the last epoch).
        milestones: epochs where the learning rate changes ("step" decay).
        factors: the factor of `lr` from each milestone on.
        sampler: "instance", "class_balanced", "inverse_frequency" or "square_root".
        augment: the training batches' augmentation. In memory (`keras_lt.data.DeviceBatches`):
            "crop_flip" (pad 4 + crop + flip), "autoaugment" (crop + flip, AutoAugment's CIFAR-10
            policy, Cutout 16) or "paco" (naver-ai/cmo's `--use_randaug`: per image, that or a
            SimCLR-style branch). Streamed (`keras_lt.data.StreamingBatches`): "imagenet"
            (random-resized crop + flip; what a recipe file with "pipeline": "stream" gets unless
            it names one) or "imagenet_jitter" (+ colour jitter 0.4).
        drw_epoch: epoch at which deferred re-weighting starts (None: never).
        ga_epoch: epoch at which KPS gradient adjustment starts (None: never).
        cpmix_epoch: epoch at which the "cpmix" method's mixup terms start (None: never); a "cpmix"
            regulariser of `regularizers` takes it as "start_epoch".
        finetune: a classifier re-training run after the main training, as keyword arguments of
            `keras_lt.trainers.decouple`, e.g. `{"method": "crt", "epochs": 10, "lr": 0.01}`
            (None: none); batch size and seed default to the recipe's.
        init_from: a trained checkpoint (zoo name, directory or `hf://` name) to start from instead
            of training: with a `finetune`, the run consists of it alone (e.g. AFR on a CMO checkpoint);
            without one, the whole network is fine-tuned from that checkpoint, with a new head for
            the data's classes (transfer learning).
        image_size: `[h, w]` the images are fitted to (`keras_lt.data.fit_image`: shorter side, then
            centre crop); None keeps the data's size (an image folder of mixed sizes: its most common).
            With `pipeline` "stream": the side of the training crops and evaluation centre crops, an
            int or a square `[s, s]` (None: 224).
        val_split: the share of every training class held out as a validation split, scored after
            each epoch (`val_accuracy`, `val_balanced_accuracy` in the log); None: no validation split.
        select_on_val: keep the epoch with the best balanced validation accuracy, not the last (needs
            `val_split`; the card says so). The test split is never used to select.
        license: the license of the trained weights, written to the model card (e.g. "mit").
        seed: seed of the initialisation, the order and the augmentation.
        schedule: "full" or the name of the schedule this recipe was scaled to (e.g. "short30").
        pipeline: "memory" (the training set decoded once and kept on the device) or "stream"
            (image files decoded on the fly by a worker pool; the split-file datasets always stream).
        sync_batch_norm: in a multi-process run, BatchNorm statistics over the global batch
            (SyncBatchNorm) instead of each rank's shard; no effect in one process.
    """

    name: str
    dataset: str = "cifar10"
    imbalance_factor: float | None = 100
    selection_seed: int = 0
    architecture: str = "resnet32"
    classifier: str = "linear"
    method: str = "erm"
    method_config: dict = dataclasses.field(default_factory=dict)
    mixer: dict | None = None
    regularizers: list = dataclasses.field(default_factory=list)
    loss: str = "ce"
    loss_config: dict = dataclasses.field(default_factory=dict)
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    warmup_epochs: int = 5
    lr_decay: str = "step"
    milestones: list = dataclasses.field(default_factory=lambda: [160, 180])
    factors: list = dataclasses.field(default_factory=lambda: [0.01, 0.0001])
    sampler: str = "instance"
    augment: str = "crop_flip"
    drw_epoch: int | None = None
    ga_epoch: int | None = None
    cpmix_epoch: int | None = None
    finetune: dict | None = None
    init_from: str | None = None
    image_size: list | int | None = None
    val_split: float | None = None
    select_on_val: bool = False
    license: str | None = None
    seed: int = 0
    schedule: str = "full"
    pipeline: str = "memory"
    sync_batch_norm: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, fields):
        """The recipe a checkpoint stored (`config.json`'s "recipe"), fields of other keras-lt versions left out.

        Example:
        >>> recipe = Recipe.from_stored(hub.read_config("runs/photos")["recipe"])
        """
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in fields.items() if key in known})

    def ingredients(self):
        """`{"mixer", "regularizers", "loss_weight"}`: the method's preset with this recipe's ingredients added.

        Checks the combination without building anything (`keras_lt.presets.ingredient_specs`): one
        `KerasLTError` line for an unknown method or ingredient, two mixers, an ingredient named
        twice, or one without the ingredient it needs. `keras_lt.trainers.trainer_ingredients`
        builds them.

        Example:
        >>> load_recipe("lcreg-resnet32-cifar10lt").ingredients()["regularizers"][0]["name"]
        'latent_reconstruction'
        """
        return ingredient_specs(self)

    def _scaled_specs(self, at, settings=None):
        """`method_config`, `mixer` and `regularizers`, epoch switches ("start_epoch", "window") moved by `at`.

        `settings` maps a method or ingredient name to settings that replace its own.
        """
        settings = settings or {}

        def scaled(spec, name):
            moved = {"start_epoch": at, "window": lambda window: [at(e) for e in window]}
            spec = {k: moved[k](v) if k in moved and v is not None else v for k, v in spec.items()}
            return {**spec, **settings.get(name, {})}

        return {
            "method_config": scaled(self.method_config, self.method),
            "mixer": None if self.mixer is None else scaled(self.mixer, self.mixer.get("name")),
            "regularizers": [scaled(spec, spec.get("name")) for spec in self.regularizers],
        }

    def scaled(self, schedule):
        """This recipe on a named short schedule, epoch switches scaled with it.

        `short30` (METHODS.md): 30 epochs, batch 128, lr 0.1, wd 2e-4, warmup 2, x0.1 at 24,
        x0.01 at 27; switches at `round(epoch * 30 / epochs)` (DRW 160 -> 24, GA 120 -> 18,
        CP-Mix 200 of 300 -> 20, and the ingredients' "start_epoch"); a fine-tune phase runs 3
        epochs. Ingredient settings come from the schedule's `ingredient_overrides` (merged into
        `method_config` for that method, and into that mixer or regulariser: CMO's window -> epochs
        1..27) and `finetune_overrides` (merged into `finetune` for that stage-2
        method: AFR runs 10 epochs, regenerating every 2).
        """
        if schedule == "full":
            return self
        if schedule not in SCHEDULES:
            raise KerasLTError(f"unknown schedule '{schedule}'; choose full or {', '.join(SCHEDULES)}.")
        overrides = dict(SCHEDULES[schedule])
        finetune_epochs = overrides.pop("finetune_epochs")
        ingredient_overrides = overrides.pop("ingredient_overrides", {})
        finetune_overrides = overrides.pop("finetune_overrides", {})
        scale = overrides["epochs"] / self.epochs
        overrides.update(self._scaled_switches(scale))
        overrides.update(self._scaled_specs(lambda epoch: round(epoch * scale), ingredient_overrides))
        overrides["finetune"] = None if self.finetune is None else {**self.finetune, "epochs": finetune_epochs}
        if self.finetune is not None and self.finetune.get("method") in finetune_overrides:
            overrides["finetune"].update(finetune_overrides[self.finetune["method"]])
        return dataclasses.replace(self, schedule=schedule, **overrides)

    def _scaled_switches(self, scale):
        """The epoch switches (DRW, KPS's GA, CP-Mix's stage 2) at `round(epoch * scale)`."""
        return {
            switch: None if getattr(self, switch) is None else round(getattr(self, switch) * scale)
            for switch in ("drw_epoch", "ga_epoch", "cpmix_epoch")
        }

    def with_epochs(self, epochs):
        """This recipe in `epochs` epochs, every epoch-dependent setting scaled with it.

        Warmup, milestones, the DRW / GA / CP-Mix switches, CMO's window and the ingredients'
        "start_epoch" and "window" move to
        `round(epoch * epochs / self.epochs)` (a switch that was on stays at epoch 1 or later, before the
        end; in a single epoch, where that is epoch 0, the learning rate's milestones go past it, so the
        epoch trains at the peak rate); a stage-2 `finetune` keeps its share of the epochs (at least 1).
        No method is dropped.
        The schedule is named "<schedule> scaled to <epochs> epochs".

        Args:
            epochs: the new number of training epochs.

        Returns:
            `(recipe, changes)`: the scaled recipe and one "field: old -> new" line per changed setting.

        Example:
        >>> recipe, changes = load_recipe("ldam-drw-resnet32-cifar10lt").with_epochs(20)
        >>> changes[:2]
        ['epochs: 200 -> 20', 'warmup_epochs: 5 -> 0']
        """
        if epochs < 1:
            raise KerasLTError(f"--epochs must be at least 1, not {epochs}.")
        scale = epochs / self.epochs

        def at(epoch):
            return min(max(round(epoch * scale), 1 if epoch else 0), max(epochs - 1, 0))

        fields = {
            "epochs": epochs,
            "warmup_epochs": round(self.warmup_epochs * scale),
            "milestones": [max(at(m), 1 if m else 0) for m in self.milestones],  # in 1 epoch: no decay, not all decayed
            **{k: None if v is None else at(getattr(self, k)) for k, v in self._scaled_switches(scale).items()},
            **self._scaled_specs(at),
        }
        if self.finetune is not None and "epochs" in self.finetune:
            fields["finetune"] = {**self.finetune, "epochs": max(1, round(self.finetune["epochs"] * scale))}
        scaled = dataclasses.replace(self, schedule=f"{self.schedule} scaled to {epochs} epochs", **fields)
        changes = [
            f"{name}: {_short(getattr(self, name))} -> {_short(getattr(scaled, name))}"
            for name in fields
            if getattr(self, name) != getattr(scaled, name)
        ]
        return scaled, changes


def _short(value):
    """A setting as the scaling report shows it: a dict as its epoch-bearing entries."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in ("epochs", "window", "start_epoch")}
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [_short(v) for v in value]
    return value


SEEDS = Range(0, 2**32 - 1, integer=True)  # what NumPy and Keras take as a seed
RANGES = {  # a recipe's number settings (each side of image_size, each of factors) -> the values they take
    "epochs": Range(1, integer=True),
    "batch_size": Range(1, integer=True),
    "lr": Range(0, open_low=True),
    "momentum": Range(0, 1, open_high=True),
    "weight_decay": Range(0),
    "factors": Range(0, open_low=True),
    "imbalance_factor": Range(1, zero="the data's own counts"),
    "val_split": Range(0, 1, open_low=True, open_high=True),
    "image_size": Range(MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, integer=True),
    "seed": SEEDS,
    "selection_seed": SEEDS,
}
FINETUNE_RANGES = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "seed")  # a stage 2's settings of RANGES


def check_numbers(recipe):
    """Raises one `KerasLTError` line, naming the setting, its value and its range, unless the recipe's numbers fit.

    The settings of `RANGES` must be in their range (a stage 2's `FINETUNE_RANGES` too), `image_size`
    one side or `[height, width]`; `warmup_epochs` and the `milestones` (in increasing order) in
    0..epochs, the epoch switches (`drw_epoch`, `ga_epoch`, `cpmix_epoch`) in 0..epochs - 1; every
    other number (of `loss_config`, the ingredients, `finetune`) must be finite.

    Example:
    >>> check_numbers(Recipe(name="x", lr=-1))
    KerasLTError: recipe x: lr must be a number > 0, not -1.
    """

    def check(field, value, allowed):
        for path, leaf in _leaves(value, field):
            if leaf not in allowed:
                default = field in within_epochs and value == _default(field)  # not the recipe's own: say so
                meant = _default("epochs")
                hint = f" (the default, meant for {meant} epochs: give the recipe {field} for {recipe.epochs})"
                hint = hint if default else ""
                raise KerasLTError(f"recipe {recipe.name}: {path} must be {allowed}, not {shown(leaf)}{hint}.")

    if isinstance(recipe.image_size, list) and len(recipe.image_size) != 2:
        raise KerasLTError(
            f"recipe {recipe.name}: image_size must be [height, width] or one side, not {recipe.image_size}."
        )
    within_epochs = ()
    check("epochs", recipe.epochs, RANGES["epochs"])  # first: the epoch settings' ranges depend on it
    within, before_end = Range(0, recipe.epochs, integer=True), Range(0, recipe.epochs - 1, integer=True)
    within_epochs = {"warmup_epochs": within, "milestones": within,
                     **dict.fromkeys(("drw_epoch", "ga_epoch", "cpmix_epoch"), before_end)}
    ranges = {**RANGES, **within_epochs}
    settings = {field: getattr(recipe, field) for field in ranges}
    settings.update({f"finetune.{k}": v for k, v in (recipe.finetune or {}).items() if k in FINETUNE_RANGES})
    for name, value in settings.items():
        if value is not None:
            check(name, value, ranges[name.removeprefix("finetune.")])
    if recipe.milestones != sorted(recipe.milestones):
        raise KerasLTError(f"recipe {recipe.name}: milestones {recipe.milestones} must be in increasing order.")
    for field, value in recipe.to_dict().items():
        for path, leaf in _leaves(value, field):
            if isinstance(leaf, numbers.Real) and not isinstance(leaf, bool) and not is_number(leaf):
                raise KerasLTError(f"recipe {recipe.name}: {path} must be a finite number, not {shown(leaf)}.")


def _default(field):
    """A `Recipe` field's default value."""
    spec = next(spec for spec in dataclasses.fields(Recipe) if spec.name == field)
    return spec.default_factory() if spec.default is dataclasses.MISSING else spec.default


def _leaves(value, path):
    """`(path, value)` of what a recipe setting holds, through its objects and lists, e.g. ("milestones[1]", 180)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


SCHEDULES = {
    "short30": dict(
        epochs=30, batch_size=128, lr=0.1, weight_decay=2e-4, warmup_epochs=2,
        milestones=[24, 27], factors=[0.1, 0.01], finetune_epochs=3,
        ingredient_overrides={"cmo": {"window": [1, 27]}},
        finetune_overrides={"afr": {"epochs": 10, "regenerate_every": 2}},
    ),
}


def zoo_root():
    """The directory of the bundled zoo (`keras_lt.zoo` in an installed wheel)."""
    return str(resources.files("keras_lt.zoo"))


def zoo_names():
    """Names of the zoo entries that have a recipe."""
    root = zoo_root()
    return sorted(
        d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, RECIPE_FILE))
    )


def is_path(name):
    """Whether `name` can only be a path, never a zoo name: it has a path separator, or is "", "." or "..".

    Example:
    >>> is_path("runs/ce"), is_path("ce-resnet32-cifar10lt")
    (True, False)
    """
    return os.path.basename(name) != name or name in ("", ".", "..")


def unknown_zoo_name(kind, name, accepted):
    """The one-line message for a `name` that is no zoo name: its closest zoo names, and where all of them are.

    The zoo has about forty names: the message offers the close ones and points to `keras-lt list`
    rather than listing them all.

    Args:
        kind: what `name` was given as, e.g. "recipe" or "model".
        name: what the user typed.
        accepted: what to give instead, e.g. "a zoo name, a checkpoint directory or hf://ORG/NAME".

    Returns:
        The message, for a `KerasLTError`.

    Example:
    >>> unknown_zoo_name("recipe", "ce-resnet32-cifar10-lt", "a zoo recipe name or a recipe JSON file")
    "unknown recipe 'ce-resnet32-cifar10-lt' (did you mean 'ce-resnet32-cifar10lt' or ...?); give a zoo ..."
    """
    return (
        f"unknown {kind} '{name}'{did_you_mean(name, zoo_names(), n=CLOSE_ZOO_NAMES)}; give {accepted} "
        "(keras-lt list shows every zoo name)."
    )


def load_recipe(name_or_path):
    """A zoo recipe by name, or a recipe JSON file by path; its fields' types and numbers (`check_numbers`) checked.

    Example:
    >>> recipe = load_recipe("ce-resnet32-cifar10lt").scaled("short30")
    """
    path = name_or_path
    if not os.path.isfile(path) and (is_path(name_or_path) or name_or_path.endswith(".json")):  # meant as a file
        raise KerasLTError(f"no recipe file {name_or_path}; check the path (a zoo recipe is given by its name).")
    if not os.path.isfile(path):
        path = os.path.join(zoo_root(), name_or_path, RECIPE_FILE)
    if not os.path.isfile(path):
        raise KerasLTError(unknown_zoo_name("recipe", name_or_path, "a zoo recipe name or a recipe JSON file"))
    try:
        with open(path, encoding="utf-8-sig") as f:  # UTF-8, with or without a byte-order mark
            fields = json.load(f)
    except (OSError, ValueError) as e:  # unreadable, not UTF-8 or not JSON
        raise KerasLTError(f"cannot read recipe {path}: {e}; a recipe is a JSON file in UTF-8.") from None
    if not isinstance(fields, dict) or "name" not in fields:
        raise KerasLTError(f"recipe {path} must be a JSON object with at least a \"name\" field.")
    known = {field.name for field in dataclasses.fields(Recipe)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise KerasLTError(
            f"recipe {path} has unknown fields: {', '.join(unknown)}{did_you_mean(unknown[0], known)}; "
            "the fields are those of keras_lt.recipes.Recipe."
        )
    for field in dataclasses.fields(Recipe):
        if field.name in fields and not _has_type(fields[field.name], field.type):
            raise KerasLTError(
                f"recipe {path}: {field.name} must be {_type_words(field.type)}, not {json.dumps(fields[field.name])}."
            )
    if fields.get("pipeline") == "stream":  # the streamed pipeline's standard augmentation, unless one is named
        fields = {"augment": "imagenet", **fields}
    recipe = Recipe(**fields)
    check_numbers(recipe)  # before a schedule scales them
    recipe.ingredients()  # an invalid combination fails here, in one line
    return recipe


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a whole number",
               float: "a number", type(None): "null"}


def _has_type(value, annotation):
    """Whether a JSON value fits a `Recipe` field's annotation (an int is a float; a bool is not a number)."""
    types = typing.get_args(annotation) or (annotation,)
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types) or (isinstance(value, int) and float in types)


def _type_words(annotation):
    """A `Recipe` field's annotation in JSON's words, e.g. "an object or null"."""
    return " or ".join(_JSON_TYPES[t] for t in typing.get_args(annotation) or (annotation,))
