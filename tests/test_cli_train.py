"""`keras_lt.cli.train`: `keras-lt train`'s options, its messages on Ctrl-C, and `--overwrite`."""

import json
import os
import shutil

import pytest

from cli_run import assert_one_line_error
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)
from interruption import interrupting_backup
from keras_lt import callbacks as lt_callbacks
from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.cli import train as train_command
from keras_lt.errors import KerasLTError
from keras_lt.recipes import load_recipe
from tiny_run import snapshot
from tiny_run import tiny_data
from tiny_run import tiny_folder
from tiny_run import tiny_recipe


@pytest.mark.parametrize("recipe", ["my-recipe.json", os.path.join("recipes", "mine")])
def test_train_with_a_missing_recipe_file_says_the_file_is_missing(tmp_path, monkeypatch, recipe):
    monkeypatch.chdir(tmp_path)  # where no such file exists
    result = run("train", "--recipe", recipe)
    assert_one_line_error(result)
    assert result.stderr.startswith(f"Error: no recipe file {recipe}; check the path")


def test_train_refuses_a_misspelt_afr_setting_before_training(tmp_path):
    recipe = load_recipe("afr-resnet32-cifar10lt")
    path = tmp_path / "afr.json"
    path.write_text(json.dumps({**recipe.to_dict(), "finetune": {**recipe.finetune, "atack_fraction": 0.5}}))
    out = tmp_path / "run"
    result = run("train", "--recipe", path, "--output", out)
    assert_one_line_error(result)
    assert "AFR takes no setting atack_fraction" in result.stderr and "attack_fraction," in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("stop, message", [
    (None, "interrupted before the first epoch was saved; nothing to resume in {out}: run the same command again."),
    (0, "interrupted before the first epoch finished; {out} has no epoch to continue from: run the same command "
        "with --resume to start the run again."),
    (1, "interrupted; {out} keeps the last finished epoch: run the same command with --resume to continue it."),
], ids=["before the run", "in the first epoch", "in the second epoch"])
def test_an_interrupted_train_says_in_one_line_how_to_continue(tmp_path, monkeypatch, tiny_architecture, stop, message):
    """Ctrl-C before the run writes anything, in its first epoch (its backup directory is there, empty) or later."""
    out = tmp_path / "run"

    def interrupted(recipe, output, **kwargs):
        if stop is None:  # while the data loads
            raise KeyboardInterrupt
        stopping = interrupting_backup(stop, before_saving=True, base=lt_callbacks.Backup)  # Ctrl-C in epoch `stop`
        monkeypatch.setattr(lt_callbacks, "Backup", stopping)
        training.train(tiny_recipe(), output, data=tiny_data(), verbose=0)

    monkeypatch.setattr(train_command, "run", interrupted)
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out)
    assert_one_line_error(result)
    assert result.stderr.strip() == "Error: " + message.format(out=out)


@pytest.mark.parametrize("stop, kept", [(0, "the finished run"), (1, "the new run")], ids=["in its first epoch", "later"])
def test_an_overwrite_stopped_before_its_first_epoch_finishes_puts_the_finished_run_back(
        tmp_path, monkeypatch, tiny_architecture, stop, kept):
    out = tmp_path / "run"
    training.train(tiny_recipe(), out, data=tiny_data(), verbose=0)
    finished = snapshot(out)

    def interrupted(recipe, output, **kwargs):
        monkeypatch.setattr(lt_callbacks, "Backup", interrupting_backup(stop, before_saving=True, base=lt_callbacks.Backup))
        training.train(tiny_recipe(), output, data=tiny_data(), verbose=0)

    monkeypatch.setattr(train_command, "run", interrupted)
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out, "--overwrite")
    assert_one_line_error(result)
    assert os.listdir(tmp_path) == ["run"]  # nothing left aside
    if kept == "the finished run":
        assert "keeps the finished run it held: run the same command to replace it again." in result.stderr
        assert snapshot(out) == finished
    else:
        assert "keeps the last finished epoch: run the same command with --resume" in result.stderr
        assert not (out / hub.CONFIG_FILE).exists() and run_directory.has_finished_epoch(out)


def test_an_overwrite_that_diverges_after_an_epoch_puts_the_finished_run_back(tmp_path, monkeypatch, tiny_architecture):
    """Its epochs lead nowhere a resume could go: `--overwrite` must not have traded the finished run for them."""
    out = tmp_path / "run"
    training.train(tiny_recipe(), out, data=tiny_data(), verbose=0)
    finished = snapshot(out)

    def diverging(recipe, output, **kwargs):  # lr 0.1, then 1e29 from the second epoch
        training.train(tiny_recipe(epochs=3, milestones=[1], factors=[1e30]), output, data=tiny_data(), verbose=0)

    monkeypatch.setattr(train_command, "run", diverging)
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out, "--overwrite")
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        "Error: training diverged (loss nan) in epoch 2: lower the learning rate (--lr, or the recipe's lr); "
        f"{out} keeps the finished run it held."
    )
    assert os.listdir(tmp_path) == ["run"] and snapshot(out) == finished


def test_a_recipe_file_with_milestones_and_factors_of_different_lengths_is_one_error_line(tmp_path):
    recipe = tmp_path / "steps.json"
    recipe.write_text('{"name": "steps", "milestones": [100], "factors": [0.1, 0.01]}')
    out = tmp_path / "run"
    result = run("train", "--recipe", recipe, "--data-dir", tmp_path / "no-data", "--output", out)
    assert_one_line_error(result)
    assert "milestones [100] and factors [0.1, 0.01] differ in length" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("value, sides", [
    (None, None), ("32", [32, 32]), ("48x40", [48, 40]), ("48X40", [48, 40]), ("5", [5, 5]), ("1024x5", [1024, 5]),
])
def test_parse_image_size(value, sides):
    assert train_command.parse_image_size(value) == sides


@pytest.mark.parametrize("value", ["x", "48x", "48x40x3", "4.5", ""])
def test_a_bad_image_size_is_one_error_line(tmp_path, value):
    with pytest.raises(KerasLTError):
        train_command.parse_image_size(value)
    result = run("train", "--data-dir", tmp_path, "--image-size", value)
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: --image-size must be SIDE or HEIGHTxWIDTH (e.g. 32 or 48x40), not '{value}'."
    )


@pytest.mark.parametrize("value, side", [
    ("4", 4), ("0", 0), ("-8", -8), ("16x1", 1), ("1025x16", 1025), ("5000", 5000),
])
def test_an_image_size_no_network_trains_or_no_checkpoint_takes_is_one_error_line(tmp_path, value, side):
    """Sides of 1..4 failed in BatchNorm, 5000 ran out of memory, over 1024 wrote a checkpoint `predict` refused."""
    result = run("train", "--data-dir", tmp_path, "--image-size", value)
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        "Error: each side of --image-size must be a whole number in 5..1024 (from the smallest side a ResNet-32 "
        f"trains a batch of one image at, to the largest a checkpoint takes), not {side}."
    )


@pytest.mark.parametrize("option, value, allowed", [
    ("--seed", "-1", "a whole number in 0..4294967295"),
    ("--seed", "99999999999999", "a whole number in 0..4294967295"),
    ("--imbalance-factor", "0.5", "0 (the data's own counts) or a number >= 1"),
    ("--epochs", "0", "a whole number >= 1"),
    ("--batch-size", "0", "a whole number >= 1"),
    ("--lr", "nan", "a number > 0"),
    ("--val-split", "1", "a number in (0, 1)"),
])
def test_a_number_option_takes_what_the_recipe_check_takes(tmp_path, option, value, allowed):
    result = run("train", "--data-dir", tmp_path, option, value)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '{option}': {value} is not {allowed}." in result.stderr


@pytest.mark.parametrize("schedule, expected", [
    (None, ("short30", 30)), ("short30", ("short30", 30)), ("full", ("full", 200)),
])
def test_a_recipe_made_from_the_folder_takes_the_schedule_asked_for(tmp_path, schedule, expected):
    folder = tiny_folder(tmp_path / "photos")
    recipe = train_command.build_recipe(None, schedule, folder, {}, None, None, echo=False)
    assert (recipe.schedule, recipe.epochs) == expected
    zoo = train_command.build_recipe("ce-resnet32-cifar10lt", None, folder, {}, None, None, echo=False)
    assert zoo.schedule == "full"


def test_an_unknown_schedule_is_one_error_line_with_or_without_a_recipe(tmp_path):
    folder = tiny_folder(tmp_path / "photos")
    for recipe in ([], ["--recipe", "ce-resnet32-cifar10lt"]):
        result = run("train", *recipe, "--data-dir", folder, "--schedule", "bogus", "--output", tmp_path / "run")
        assert_one_line_error(result)
        assert result.stderr.strip() == "Error: unknown schedule 'bogus'; choose full or short30."
    assert not (tmp_path / "run").exists()


def test_a_recipe_file_with_a_number_out_of_its_range_is_one_error_line(tmp_path):
    """It trained with a negative lr (exit 0), or stopped in a traceback (batch size 0, one image side)."""
    data, out = tiny_folder(tmp_path / "photos"), tmp_path / "run"
    for field, value, allowed in (("lr", -1, "a number > 0"), ("batch_size", 0, "a whole number >= 1")):
        recipe = tmp_path / f"{field}.json"
        recipe.write_text(json.dumps({"name": "numbers", field: value}))
        result = run("train", "--recipe", recipe, "--data-dir", data, "--output", out)
        assert_one_line_error(result)
        assert result.stderr.strip() == f"Error: recipe numbers: {field} must be {allowed}, not {value}."
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--resume", "--overwrite"], "--resume continues an interrupted run and --overwrite replaces a finished one; pass "
                                  "one of them."),
    ([], "give --data-dir (an image folder train/<class>/<images>) or --recipe."),
], ids=["resume and overwrite", "no data and no recipe"])
def test_train_refuses_in_one_line(args, message):
    result = run("train", *args)
    assert_one_line_error(result)
    assert result.stderr.strip() == f"Error: {message}"


def test_checkpoint_fields_name_the_checkpoints_network_and_input_size(tiny):
    assert train_command.checkpoint_fields(None) == ({}, None)
    assert train_command.checkpoint_fields(tiny[1]) == (
        {"init_from": tiny[1], "architecture": "resnet32", "classifier": "linear"}, [8, 8]
    )


def test_another_loss_takes_its_defaults_and_says_so():
    recipe = load_recipe("ldam-drw-resnet32-cifar10lt")  # loss ldam, loss_config {"max_margin": 0.5, "scale": 30.0}
    said = []
    fields = train_command.without_other_loss_config(recipe, {"loss": "kps", "lr": 0.1}, said.append)
    assert fields == {"loss": "kps", "lr": 0.1, "loss_config": {}}
    assert said == ['--loss kps replaces the recipe\'s ldam: kps takes its defaults, not loss_config '
                    '{"max_margin": 0.5, "scale": 30.0}.']
    for same in ({"loss": "ldam"}, {"lr": 0.1}):  # the recipe's own loss, or none given
        assert train_command.without_other_loss_config(recipe, same, said.append) == same
    bs = load_recipe("bs-resnet32-cifar10lt")  # no loss_config to drop
    assert train_command.without_other_loss_config(bs, {"loss": "ce"}, said.append) == {"loss": "ce"}
    assert len(said) == 1


@pytest.mark.parametrize("fields, current, classifier, said", [
    ({"loss": "ldam"}, "linear", "cosine", ["--loss ldam is defined on a cosine classifier's logits: training a "
                                            "cosine classifier."]),
    ({"loss": "bs"}, "cosine", "linear", ["--loss bs is defined on a linear classifier's logits: training a linear "
                                          "classifier."]),
    ({"loss": "kps"}, "cosine", "cosine", []),
    ({"init_from": "base", "loss": "ce", "classifier": "cosine"}, "linear", "cosine", []),  # --init-from's, kept
    ({"lr": 0.1}, "linear", None, []),
])
def test_a_loss_trains_the_classifier_it_is_defined_on(fields, current, classifier, said):
    lines = []
    chosen = train_command.with_loss_classifier(fields, lines.append, current=current)
    assert chosen == {**fields, **({"classifier": classifier} if classifier else {})}
    assert lines == said


@pytest.mark.parametrize("fields, current_loss", [
    ({"init_from": "base", "classifier": "linear", "loss": "ldam"}, "ce"),  # --loss ldam
    ({"init_from": "base", "classifier": "linear"}, "kps"),  # the recipe's loss
])
def test_a_cosine_loss_on_a_linear_checkpoint_says_what_to_do(fields, current_loss):
    """There is no --classifier option: the message names the checkpoint's classifier and what else to train."""
    with pytest.raises(KerasLTError) as error:
        train_command.with_loss_classifier(fields, print, current_loss=current_loss)
    assert str(error.value) == (
        f"--init-from base has a linear classifier and the {fields.get('loss', current_loss)} loss is defined on a "
        "cosine classifier's logits; train it with another --loss (e.g. ce or bs), or train without --init-from."
    )


def test_train_init_from_a_linear_checkpoint_with_loss_ldam_is_one_error_line(tmp_path, tiny):
    out = tmp_path / "run"
    result = run("train", "--init-from", tiny[1], "--loss", "ldam", "--data-dir", tiny_folder(tmp_path / "photos"),
                 "--output", out)
    assert_one_line_error(result)
    assert result.stderr.startswith(f"Error: --init-from {tiny[1]} has a linear classifier and the ldam loss")
    assert not out.exists()


def test_train_into_a_copy_of_its_data_is_refused_and_writes_nothing(tmp_path):
    """`--output` a data folder (here a copy of the data): one line before anything is written, the folder as it was."""
    data = tiny_folder(tmp_path / "ds")
    out = shutil.copytree(data, tmp_path / "ds_out")
    before = snapshot(out)
    result = run("train", "--data-dir", data, "--output", out, "--epochs", 1)
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: {out} is not empty: it holds files no keras-lt run writes (test, train); choose a new or empty "
        "--output."
    )
    assert snapshot(out) == before


def test_overwrite_refuses_a_finished_run_beside_other_files(tmp_path, monkeypatch, tiny_architecture):
    out = tmp_path / "run"
    training.train(tiny_recipe(), out, data=tiny_data(), verbose=0)
    (out / "precious.txt").write_text("the user's")
    (out / "mydata").mkdir()
    before = snapshot(out)
    monkeypatch.setattr(train_command, "run", None)  # never reached
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out, "--overwrite")
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: --overwrite replaces a finished run, and {out} also holds other files (mydata, precious.txt); move "
        "them out or choose another --output."
    )
    assert snapshot(out) == before and os.listdir(tmp_path) == ["run"]


def test_an_output_under_a_file_is_one_line_before_the_data_is_read(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--data-dir", tmp_path / "no-data",
                 "--output", afile / "sub")
    assert_one_line_error(result)  # not: no CIFAR-10 in no-data
    assert result.stderr.strip() == (
        f"Error: cannot write in {afile / 'sub'}: {afile} is not a folder; choose another --output."
    )
    assert afile.read_text() == "not a folder"
