"""The checks of a recipe that a run makes before it writes anything, each refusing in one `KerasLTError` line.

`check_recipe` (with `check_loss`) needs only the recipe: the names it gives (method, ingredients,
loss, architecture, sampler, pipeline, augmentation), its numbers (`keras_lt.recipes.check_numbers`),
its schedule and stage 2 settings. `check_data` checks what needs the data read: the loss built on
the training set's class counts and the image size of a checkpoint fine-tuned whole.
"""

import inspect

from keras_lt import hub
from keras_lt import losses
from keras_lt import models
from keras_lt.data.file_sources import SPLIT_FILE_DATASETS
from keras_lt.data.pipeline import AUGMENTATIONS
from keras_lt.data.samplers import SAMPLERS
from keras_lt.data.streaming import STREAMING_AUGMENTATIONS
from keras_lt.errors import KerasLTError
from keras_lt.errors import did_you_mean
from keras_lt.recipes import check_numbers
from keras_lt.trainers import STAGE2
from keras_lt.trainers import STAGE2_CHECKS
from keras_lt.trainers import stage2_settings
from keras_lt.trainers import trainer_ingredients
from keras_lt.training_data import PIPELINES

CHECK_COUNTS = (2, 1)  # the class profile a recipe's loss is built with to check its settings, before the data is read
IMAGENET_RESNETS = ("resnet10", "resnet50", "resnext50")  # stride 32: a 1x1 last feature map up to 32 px a side
LOSS_SWITCH_TAKERS = {  # a recipe's loss switch -> what it switches on, and the losses that have it
    "drw_epoch": ("deferred re-weighting", losses.DRW_LOSSES),
    "ga_epoch": ("KPS' gradient adjustment", losses.GA_LOSSES),
}


def check_recipe(recipe):
    """Raises one `KerasLTError` line if the recipe names an unknown method, ingredient, loss, architecture or sampler.

    Bad settings of an ingredient, a number out of its range (`keras_lt.recipes.check_numbers`), bad
    settings of the loss (`check_loss`), of the step schedule (a factor for each milestone) or of the
    stage 2 (a name it does not take, or a value `keras_lt.trainers.STAGE2_CHECKS` refuses) fail here
    too, before anything is written.
    """
    trainer_ingredients(recipe)
    choices = {
        "loss": {**losses.LOSSES, **losses.ALIASES},
        "architecture": models.ARCHITECTURES,
        "sampler": SAMPLERS,
        "lr_decay": ("step", "cosine"),
        "pipeline": PIPELINES,
        "augment": STREAMING_AUGMENTATIONS if recipe.pipeline == "stream" else AUGMENTATIONS,
    }
    if not hub.is_model_name(recipe.name):  # it names the checkpoint, and its default directory
        raise KerasLTError(f"recipe name '{recipe.name}' must be letters, digits, '.', '_' and '-' (one path component).")
    for field, known in choices.items():
        value = getattr(recipe, field)
        if value not in known:
            raise KerasLTError(
                f"recipe {recipe.name}: unknown {field} '{value}'{did_you_mean(value, known)}; "
                f"choose one of {', '.join(sorted(known))}."
            )
    check_numbers(recipe)
    check_loss(recipe)
    if recipe.lr_decay == "step" and len(recipe.milestones) != len(recipe.factors):
        raise KerasLTError(
            f"recipe {recipe.name}: milestones {recipe.milestones} and factors {recipe.factors} differ in length; "
            "give one factor for each milestone."
        )
    if recipe.dataset in SPLIT_FILE_DATASETS and recipe.pipeline != "stream":
        raise KerasLTError(f"recipe {recipe.name}: {recipe.dataset} is read from its split files: set pipeline \"stream\".")
    if recipe.select_on_val and (not recipe.val_split or recipe.finetune is not None):
        raise KerasLTError(
            f"recipe {recipe.name}: selecting a checkpoint on the validation split needs --val-split and a "
            "recipe without a stage 2."
        )
    if recipe.finetune is not None and recipe.finetune.get("method") not in STAGE2:
        raise KerasLTError(
            f"recipe {recipe.name}: finetune needs a \"method\", one of {', '.join(STAGE2)}."
        )
    if recipe.finetune is not None:  # checked now, not after hours of stage 1
        stage2, settings = stage2_settings(recipe)
        method = recipe.finetune["method"]
        given = {"images": None, "labels": None, "callbacks": (), "verbose": 0, "output_dir": None}
        try:
            inspect.signature(stage2).bind(None, **given, **settings)
        except TypeError as error:
            known = [name for name in list(inspect.signature(stage2).parameters)[1:] if name not in {*given, "method"}]
            raise KerasLTError(
                f"recipe {recipe.name}: bad finetune setting ({error}); {method} takes {', '.join(known)}."
            ) from None
        if method in STAGE2_CHECKS:
            try:
                STAGE2_CHECKS[method](settings)
            except KerasLTError as error:
                raise KerasLTError(f"recipe {recipe.name}: bad finetune setting ({str(error).rstrip('.')}).") from None


def check_loss(recipe):
    """Raises one `KerasLTError` line unless the recipe's loss can train as the recipe says.

    The loss must build with its `loss_config` (on a two-class profile, `CHECK_COUNTS`: before the data
    is read), have the switches the recipe sets (`drw_epoch`: focal, kps, ldam; `ga_epoch`: kps) and
    be on the classifier it is defined on (kps, ldam: cosine); a cosine classifier trained from scratch
    needs one of those, which scale its cosines (a checkpoint's, `init_from`, carries its scale).

    Example:
    >>> check_loss(Recipe(name="x", loss="focal", loss_config={"gama": 2}))
    KerasLTError: recipe x: bad loss_config for focal (Loss.__init__() got an unexpected keyword argument 'gama').
    """
    loss = losses.canonical_name(recipe.loss)
    try:
        losses.get(loss, CHECK_COUNTS, **recipe.loss_config)
    except (TypeError, ValueError, KerasLTError) as error:
        raise KerasLTError(f"recipe {recipe.name}: bad loss_config for {recipe.loss} ({error}).") from None
    for field, (switched, takers) in LOSS_SWITCH_TAKERS.items():
        if getattr(recipe, field) is not None and loss not in takers:
            hint = " (CE-DRW: loss focal with loss_config {\"gamma\": 0} is CE)" if (loss, field) == ("ce", "drw_epoch") else ""
            raise KerasLTError(
                f"recipe {recipe.name}: {field} switches on {switched}, which the {recipe.loss} loss does not have "
                f"(the losses that have it: {', '.join(takers)}); choose one{hint} or set {field} to null."
            )
    if loss in losses.COSINE_LOSSES and recipe.classifier != "cosine":
        raise KerasLTError(
            f"recipe {recipe.name}: the {recipe.loss} loss is defined on a cosine classifier's logits, not a "
            f"{recipe.classifier} one's; set classifier \"cosine\"."
        )
    if recipe.classifier == "cosine" and loss not in losses.COSINE_LOSSES and recipe.init_from is None:
        raise KerasLTError(
            f"recipe {recipe.name}: a cosine classifier outputs cosines in [-1, 1], on which the {recipe.loss} loss "
            f"barely trains (it has no scale); train it with a loss that scales them ({', '.join(losses.COSINE_LOSSES)}), "
            "or set classifier \"linear\"."
        )


PRIOR_LOSSES = ("balanced_softmax", "logit_adjusted", "class_balanced")  # losses that re-balance the classes themselves


def rebalancing_note(recipe):
    """A line noting that the recipe re-balances the classes twice, or None; a note, not a refusal (a study may mean it).

    A re-balancing sampler (every one but "instance") already trains on balanced batches: a loss that
    re-balances too (Balanced Softmax, logit adjustment, class-balanced weights), deferred
    re-weighting, or CMO (which pastes minority foregrounds into instance-sampled backgrounds) then
    over-balances (Ren et al. 2020, section 3.3).

    Example:
    >>> rebalancing_note(Recipe(name="x", loss="bs", sampler="class_balanced"))
    'the class_balanced sampler and the bs loss both re-balance the classes (over-balancing, Ren et al. 2020)'
    """
    if recipe.sampler == "instance":
        return None
    mixer = (recipe.ingredients()["mixer"] or {}).get("name")
    also = (
        f"the {recipe.loss} loss" if losses.canonical_name(recipe.loss) in PRIOR_LOSSES
        else "deferred re-weighting" if recipe.drw_epoch is not None
        else "CMO (its backgrounds are meant to be instance-sampled)" if mixer == "cmo"
        else None
    )
    return None if also is None else (
        f"the {recipe.sampler} sampler and {also} both re-balance the classes (over-balancing, Ren et al. 2020)"
    )


def check_data(recipe, data):
    """Raises one `KerasLTError` line unless the recipe can train on `data`; reads, never writes.

    What `check_recipe` cannot see before the data is read: the loss must build on the training
    set's class counts (LDAM, KPS, Balanced Softmax, ... need images of every class), an ImageNet
    ResNet on images of 32 px or less (a 1x1 last feature map) must not end an epoch on a batch of
    one image (BatchNorm needs two values per channel), and a checkpoint fine-tuned whole (`init_from` without `finetune`) must be the recipe's architecture
    and classifier (it is what trains) and take the data's image size.

    Args:
        recipe: a recipe that `check_recipe` passed.
        data: the run's `TrainingData`.

    Example:
    >>> check_data(recipe, prepare_data(recipe, "my_photos"))
    """
    try:
        losses.get(recipe.loss, data.class_counts, **recipe.loss_config)
    except (TypeError, ValueError, KerasLTError) as error:
        raise KerasLTError(
            f"recipe {recipe.name}: the {recipe.loss} loss does not build on the training set's class counts "
            f"({error}); give every class training images."
        ) from None
    side, images = min(data.train_images.shape[1:3]), len(data.train_labels)
    if recipe.architecture in IMAGENET_RESNETS and side <= 32 and images % recipe.batch_size == 1:
        raise KerasLTError(
            f"recipe {recipe.name}: {images} training images leave one image in the last batch of {recipe.batch_size}, "
            f"which {recipe.architecture}'s BatchNorm cannot train on at {side} px (its last feature map is 1x1); "
            f"choose a batch size of {recipe.batch_size + 1} (or images of 33 px or more)."
        )
    if recipe.init_from is not None and recipe.finetune is None:
        architecture = hub.read_config(hub.resolve(recipe.init_from))["architecture"]
        kind = (architecture["name"], architecture.get("classifier", "linear"))
        if kind != (recipe.architecture, recipe.classifier):
            raise KerasLTError(
                f"recipe {recipe.name}: init_from {recipe.init_from} is a {kind[0]} with a {kind[1]} classifier, the "
                f"recipe trains a {recipe.architecture} with a {recipe.classifier} one; set architecture "
                f"\"{kind[0]}\" and classifier \"{kind[1]}\" (and a loss defined on it), or start from another checkpoint."
            )
        expected = tuple(architecture["input_shape"][:2])
        if tuple(data.train_images.shape[1:3]) != expected:
            raise KerasLTError(
                f"--init-from {recipe.init_from} takes {expected[0]}x{expected[1]} images; pass --image-size "
                f"{expected[0]}x{expected[1]} (or leave it out)."
            )
