"""The ImageNet-LT (ResNeXt-50) and iNaturalist 2018 (ResNet-50) zoo recipes: the papers' schedules, no weights."""

import pytest

from keras_lt import from_pretrained
from keras_lt.errors import KerasLTError
from keras_lt.recipes import load_recipe
from keras_lt.recipes import zoo_names
from keras_lt.recipe_checks import check_recipe

METHODS = ("ce", "bs", "crt", "lws", "tau-norm", "kps", "cpmix", "mislas", "lcreg")
LARGE = [f"{m}-resnext50-imagenetlt" for m in METHODS] + [f"{m}-resnet50-inat2018" for m in METHODS]

# (epochs, batch, lr, weight decay) of the reference configs:
# classifier-balancing config/ImageNet_LT/feat_uniform.yaml, config/iNaturalist18/feat_unifrom.yaml (cosine);
# MiSLAS config/imagenet/imagenet_resnet50_stage1_mixup.yaml, config/ina2018/ina2018_resnet50_stage1_mixup.yaml.
DECOUPLING = {"imagenetlt": (90, 512, 0.2, 5e-4), "inat2018": (90, 512, 0.2, 1e-4)}
MISLAS = {"imagenetlt": (180, 256, 0.1, 5e-4), "inat2018": (200, 256, 0.1, 1e-4)}
STAGE2_EPOCHS = {("crt", "imagenetlt"): 10, ("crt", "inat2018"): 30, ("lws", "imagenetlt"): 5, ("lws", "inat2018"): 5}


def test_every_method_has_both_benchmarks_in_the_zoo():
    assert set(LARGE) <= set(zoo_names())


@pytest.mark.parametrize("name", LARGE)
def test_recipe_is_a_streamed_run_of_the_papers_schedule(name):
    recipe = load_recipe(name)
    check_recipe(recipe)
    method, benchmark = name.split("-resne")[0], name.rsplit("-", 1)[1]
    assert recipe.pipeline == "stream" and recipe.image_size == 224 and recipe.imbalance_factor is None
    assert recipe.dataset == {"imagenetlt": "imagenet_lt", "inat2018": "inat2018"}[benchmark]
    assert recipe.architecture == {"imagenetlt": "resnext50", "inat2018": "resnet50"}[benchmark]
    schedule = (recipe.epochs, recipe.batch_size, recipe.lr, recipe.weight_decay)
    if method in ("ce", "bs", "crt", "lws", "tau-norm"):
        assert schedule == DECOUPLING[benchmark] and recipe.lr_decay == "cosine" and recipe.warmup_epochs == 0
        assert recipe.loss == ("balanced_softmax" if method == "bs" else "ce")
    if method in ("crt", "lws"):
        assert recipe.finetune["method"] == method and recipe.finetune["lr"] == 0.2
        assert recipe.finetune["epochs"] == STAGE2_EPOCHS[method, benchmark]
        assert recipe.finetune["weight_decay"] == recipe.weight_decay
    if method in ("mislas", "lcreg"):
        assert schedule == MISLAS[benchmark] and recipe.lr_decay == "cosine"
        assert recipe.method_config["alpha"] == 0.2  # MiSLAS' ImageNet / iNaturalist mixup
        stage2 = recipe.finetune
        assert (stage2["method"], stage2["epochs"], stage2["lr"], stage2["lr_factor"]) == ("mislas", 10, 0.1, 0.05)
        assert (stage2["eps_head"], stage2["eps_tail"], stage2["shift_bn"]) == (0.3, 0.0, True)
    if method == "lcreg":  # LCReg's table 3: the best M per benchmark
        assert recipe.method_config["latent_categories"] == {"imagenetlt": 100, "inat2018": 200}[benchmark]
    if method == "kps":
        assert recipe.classifier == "cosine" and recipe.ga_epoch < recipe.milestones[0] < recipe.epochs
    if method == "cpmix":
        assert recipe.loss == "balanced_softmax" and recipe.lr == 0.1 and recipe.finetune["method"] == "cpmix"
        assert recipe.cpmix_epoch == round(recipe.epochs * 2 / 3)  # stage 2: the last third


@pytest.mark.parametrize("name", ["ce-resnext50-imagenetlt", "lcreg-resnet50-inat2018"])
def test_from_pretrained_names_the_training_command(name):
    with pytest.raises(KerasLTError, match=f"keras-lt train --recipe {name} --data-dir") as error:
        from_pretrained(name)
    assert "\n" not in str(error.value)
