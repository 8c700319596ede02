"""benchmarks/campaign.py: the queue, the scheduler's choices, progress from logs, the lock, the daemon."""

import csv
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from keras_lt import run_directory
from keras_lt.trainers import stage2

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("campaign", REPO / "benchmarks" / "campaign.py")
campaign = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(campaign)


def write_queue(path, runs):
    path.write_text(json.dumps({"runs": runs}))
    return path


def write_recipe(directory, name, epochs, finetune_epochs=None):
    """A recipe file under `directory/zoo/<name>/` (the queue's JSON recipes live under zoo/)."""
    recipe = {"name": name, "epochs": epochs}
    if finetune_epochs:
        recipe["finetune"] = {"method": "crt", "epochs": finetune_epochs}
    path = directory / "zoo" / name / "recipe.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(recipe))
    return f"zoo/{name}/recipe.json"


def write_log(path, seconds):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "accuracy", "loss", "lr", "seconds"])
        writer.writerows([i, 0.5, 1.0, 0.1, s] for i, s in enumerate(seconds))


def finish(run_dir):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model.safetensors").write_bytes(b"")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A stand-in repository root, so that queue recipes resolve under tmp_path/zoo."""
    monkeypatch.setattr(campaign, "REPO", tmp_path)
    return tmp_path


def test_run_layout_matches_keras_lt_run_directory():
    assert set(campaign.INTERRUPTED_DIRS) == {run_directory.BACKUP_DIR, run_directory.STAGE1_DIR, stage2.BACKUP_DIR}
    assert (campaign.STAGE1_LOG, campaign.STAGE2_LOG) == (run_directory.LOG_FILE, run_directory.FINETUNE_LOG_FILE)
    assert campaign.BACKUP_OF_LOG == {
        run_directory.LOG_FILE: run_directory.BACKUP_DIR, run_directory.FINETUNE_LOG_FILE: stage2.BACKUP_DIR
    }


def test_committed_queue_is_the_issues_order_and_its_recipes_exist():
    entries = campaign.load_queue()
    required = [e.name for e in entries if not e.optional]
    assert required == [
        "bs-resnet32-cifar10lt", "kps-resnet32-cifar10lt", "mislas-resnet32-cifar10lt",
        "lcreg-resnet32-cifar10lt", "cmo-resnet32-cifar10lt", "afr-resnet32-cifar10lt",
        "ldam-drw-resnet32-cifar10lt", "cpmix-resnet32-cifar10lt", "bs-resnet32-cifar10lt-300ep",
    ]
    assert [e.name for e in entries if e.optional] == [
        "la-resnet32-cifar10lt", "focal-resnet32-cifar10lt", "cb-focal-resnet32-cifar10lt"]
    for entry in entries:
        with open(entry.recipe_path()) as f:
            assert json.load(f)["name"] == entry.name
    assert {e.name: e.init_from_run for e in entries}["afr-resnet32-cifar10lt"] == "cmo-resnet32-cifar10lt"


@pytest.mark.parametrize(
    "runs, message",
    [
        ([{"name": "a"}, {"name": "a"}], "queued twice"),
        ([{"name": "b", "init_from_run": "a"}, {"name": "a"}], "must be queued before it"),
        ([{"name": "a", "recipe": "elsewhere/a.json"}], "must lie under zoo/"),
    ],
)
def test_malformed_queue_is_refused_in_one_line(tmp_path, runs, message):
    with pytest.raises(SystemExit, match=message):
        campaign.load_queue(write_queue(tmp_path / "queue.json", runs))


def test_runnable_follows_the_queue_and_skips_what_cannot_start(repo, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    queue = [{"name": n, "recipe": write_recipe(repo, n, 4)} for n in "abcdef"]
    queue[1]["hold"] = "recipe about to change"
    queue[2]["init_from_run"] = "a"
    queue[4]["optional"] = True
    entries = campaign.load_queue(write_queue(tmp_path / "q.json", queue))
    pick = lambda busy=(), retry=False: getattr(campaign.runnable(entries, runs, set(busy), retry), "name", None)  # noqa: E731
    assert pick() == "a"
    assert pick(busy={"a"}) == "d"  # b held, c waits for a
    finish(runs / "a")
    assert pick() == "c"
    (runs / "c.failed").write_text("exit 1\n")
    assert pick() == "d"
    assert pick(retry=True) == "c"
    finish(runs / "d")
    assert pick() == "f"  # e is optional: after every required run
    finish(runs / "f")
    assert pick() == "e"
    (runs / "f" / "backup").mkdir()  # a checkpoint beside a backup: a resumed run, not finished
    assert not campaign.is_finished(runs / "f")


def test_progress_reads_stage_epochs_rate_and_eta_from_the_logs(repo, tmp_path):
    runs = tmp_path / "runs"
    entry = campaign.Entry("m", write_recipe(repo, "m", 200, finetune_epochs=10))
    run_dir = runs / "m"
    run_dir.mkdir(parents=True)
    (run_dir / "backup").mkdir()
    stage1 = [60.0 + (i % 7) for i in range(150)]
    write_log(run_dir / "train_log.csv", stage1)
    p = campaign.progress(entry, runs)
    rate = statistics.median(stage1[-10:])
    assert (p.state, p.stage, p.done, p.total) == ("interrupted", "1", 150, 200)
    assert p.seconds_per_epoch == rate
    assert p.eta_seconds == pytest.approx((50 + 10) * rate)  # stage 2 costed at stage 1's rate
    assert campaign.progress(entry, runs, running={"m"}).state == "running"

    write_log(run_dir / "train_log.csv", [60.0] * 200)
    write_log(run_dir / "finetune_log.csv", [20.0, 22.0, 21.0])
    p = campaign.progress(entry, runs)
    assert (p.stage, p.done, p.total, p.seconds_per_epoch) == ("2", 3, 10, 21.0)
    assert p.eta_seconds == pytest.approx(7 * 21.0)


def test_progress_of_a_stage2_only_run_waits_for_its_checkpoint(repo, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    entry = campaign.Entry("afr", write_recipe(repo, "afr", 200, finetune_epochs=50), init_from_run="cmo")
    p = campaign.progress(entry, runs)
    assert (p.state, p.stage, p.total, p.note) == ("waiting", "2", 50, "starts from cmo")


def test_a_second_lock_is_refused_while_the_first_is_held(tmp_path):
    first = campaign.lock(tmp_path)
    assert first is not None
    assert campaign.lock(tmp_path) is None
    first.close()  # the kernel drops an flock with its holder: no stale lock survives a killed daemon
    second = campaign.lock(tmp_path)
    assert second is not None
    second.close()


def test_daemon_runs_the_queue_records_segments_and_marks_failures(repo, tmp_path, monkeypatch):
    """The scheduler end to end, each run a short process standing in for `keras-lt train`."""
    runs = tmp_path / "runs"
    runs.mkdir()
    queue = [
        {"name": "ok", "recipe": write_recipe(repo, "ok", 1)},
        {"name": "bad", "recipe": write_recipe(repo, "bad", 1)},
        {"name": "held", "recipe": write_recipe(repo, "held", 1), "hold": "not yet"},
        {"name": "after", "recipe": write_recipe(repo, "after", 1), "init_from_run": "ok"},
    ]
    queue_file = write_queue(tmp_path / "q.json", queue)
    monkeypatch.setattr(campaign, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(campaign, "snapshot", lambda runs, commit: tmp_path)
    monkeypatch.setattr(campaign, "_git", lambda *args: "0" * 40)

    class Scripted(campaign.Daemon):
        def command(self, entry, code):
            run_dir = self.runs / entry.name
            if entry.name == "bad":
                return [sys.executable, "-c", "print('ValueError: broken'); raise SystemExit(3)"]
            return [sys.executable, "-c", f"import pathlib; p = pathlib.Path({str(run_dir)!r}); "
                    "p.mkdir(); (p / 'model.safetensors').write_bytes(b'')"]

    Scripted(runs, tmp_path, slots=2, threads=1, retry_failed=False, queue_file=queue_file).run()
    assert campaign.is_finished(runs / "ok") and campaign.is_finished(runs / "after")
    assert not (runs / "held").exists()
    assert (runs / "bad.failed").read_text().startswith("exit 3 at ")
    assert "ValueError: broken" in (runs / "bad.failed").read_text()
    (segment,) = campaign.segments(runs, "ok")
    assert segment["exit"] == 0 and segment["commit"] == "0" * 40 and not segment["resume"]
    assert segment["cpu_seconds"] >= 0 and segment["wall_seconds"] >= 0
    states = {e.name: campaign.progress(e, runs).state for e in campaign.load_queue(queue_file)}
    assert states == {"ok": "done", "bad": "failed", "held": "held", "after": "done"}
    assert not list(runs.glob("*" + campaign.PROCESS_SUFFIX))  # every process was recorded as it ended


def test_a_live_process_is_checkpointed_and_recovered_after_a_kill(repo, tmp_path, monkeypatch):
    """A session's end kills daemon and run alike: the next daemon records the process's last known state."""
    runs = tmp_path / "runs"
    runs.mkdir()
    entry = campaign.Entry("r", write_recipe(repo, "r", 1))
    monkeypatch.setattr(campaign, "snapshot", lambda runs, commit: tmp_path)
    monkeypatch.setattr(campaign, "_git", lambda *args: "c" * 40)

    class Busy(campaign.Daemon):
        def command(self, entry, code):
            return [sys.executable, "-c", "import time; t = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
                    "time.sleep(60)"]

    daemon = Busy(runs, tmp_path, 1, 1, False)
    daemon.launch(entry)
    pid = daemon.children["r"][0]
    try:
        deadline = time.time() + 60  # a loaded machine may give the child its 0.3 CPU seconds slowly
        while True:
            daemon.reap()  # still running: checkpointed, not recorded
            checkpoint = json.loads((runs / ("r" + campaign.PROCESS_SUFFIX)).read_text())
            if checkpoint["cpu_seconds"] >= 0.25 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert checkpoint["cpu_seconds"] >= 0.25 and checkpoint["wall_seconds"] >= checkpoint["cpu_seconds"] - 0.05
        assert campaign.segments(runs, "r") == []
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    campaign.recover_segments(runs, "r")  # what the next daemon does first
    (segment,) = campaign.segments(runs, "r")
    assert segment == {**checkpoint, "exit": "lost"}
    assert not (runs / ("r" + campaign.PROCESS_SUFFIX)).exists()
    campaign.recover_segments(runs, "r")  # its launch line is matched by that segment: nothing added
    assert len(campaign.segments(runs, "r")) == 1


def test_processes_of_an_older_daemon_are_recovered_from_the_log(tmp_path):
    """Launch lines without a segment (killed before processes were checkpointed) become estimated segments."""
    runs = tmp_path
    a, b = "a" * 40, "b" * 40
    (runs / "r.log").write_text(
        f"\n# 2026-11-29T16:28:12Z campaign: python -m keras_lt.cli.main train --recipe r --output x  (commit {a}, 2 threads)\n"
        "Epoch 1/200\n97/97 - 149s - 2s/step - accuracy: 0.3590 - loss: 1.4923 - lr: 0.0200 - seconds: 148.1400\n"
        "Epoch 2/200\n97/97 - 91s - 939ms/step - accuracy: 0.4075 - loss: 1.1725 - lr: 0.0400 - seconds: 90.9000\nEpoch 3/200\n"
        f"\n# 2026-11-29T19:02:33Z campaign: python -m keras_lt.cli.main train --recipe r --output x --resume  (commit {b}, 1 threads)\n"
        "Epoch 3/200\n97/97 - 64s - 658ms/step - accuracy: 0.9059 - loss: 0.1904 - lr: 0.1000 - seconds: 63.5700\n"
    )
    campaign.append_segment(runs, "r", {"start": "2026-11-29T19:02:34Z", "commit": b, "exit": 0,
                                        "wall_seconds": 70.0, "cpu_seconds": 130.0})
    campaign.recover_segments(runs, "r")
    recovered, recorded = campaign.segments(runs, "r")  # in the order they started
    assert recorded["exit"] == 0  # matched its launch line (one second apart)
    assert recovered["start"] == "2026-11-29T16:28:12Z" and recovered["commit"] == a and not recovered["resume"]
    assert recovered["threads"] == 2 and recovered["exit"] == "lost" and recovered["cpu_seconds"] is None
    assert recovered["wall_seconds"] == round(148.14 + 90.9, 1)


def test_process_cpu_seconds_reads_proc():
    before = os.times()
    measured = campaign.process_cpu_seconds(os.getpid())
    after = os.times()
    assert before.user + before.system - 0.05 <= measured <= sum(after[:4]) + 1.0  # utime, stime, cutime, cstime
    assert campaign.process_cpu_seconds(2**22 + 12345) is None


def test_a_resumed_run_keeps_its_commit_unless_upgraded(repo, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "r" / "backup").mkdir(parents=True)
    (runs / "r.segments.jsonl").write_text(json.dumps({"commit": "a" * 40}) + "\n")
    entry = campaign.Entry("r", write_recipe(repo, "r", 1))
    monkeypatch.setattr(campaign, "_git", lambda *args: "b" * 40)
    snapshots = []
    monkeypatch.setattr(campaign, "snapshot", lambda runs, commit: snapshots.append(commit) or tmp_path)
    monkeypatch.setattr(campaign.subprocess, "Popen", lambda command, **kw: type("P", (), {"pid": 0})())
    for upgrade in (False, True):
        daemon = campaign.Daemon(runs, tmp_path, 1, 1, False, upgrade_code=upgrade)
        daemon.launch(entry)
        assert "--resume" in (runs / "r.log").read_text().splitlines()[-1]
    assert snapshots == ["a" * 40, "b" * 40]


def test_export_and_import_hand_runs_to_a_gpu_call_and_back(repo, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    queue = [{"name": n, "recipe": write_recipe(repo, n, 4)} for n in ("done", "cut", "fresh", "held", "after")]
    queue[3]["hold"] = "not yet"
    queue[4]["init_from_run"] = "done"
    queue_file = write_queue(tmp_path / "q.json", queue)
    finish(runs / "done")
    for snapshot in ("epoch-000001", "epoch-000002", "epoch-000003.partial"):  # only the newest travels
        (runs / "cut" / "backup" / snapshot).mkdir(parents=True)
    (runs / "held" / "backup").mkdir(parents=True)  # interrupted, then held: stays here
    write_log(runs / "cut" / "train_log.csv", [60.0, 61.0])
    (runs / "cut.log").write_text("epoch 1\nepoch 2\n")
    monkeypatch.setattr(campaign, "_git", lambda *args: "c" * 40)
    archive = tmp_path / "out" / "runs.tgz"
    entries = {e.name: e for e in campaign.load_queue(queue_file)}
    assert [campaign.progress(entries[n], runs).epochs_left for n in ("done", "cut", "fresh")] == [0, 2, 4]
    assert campaign.totals(runs, list(entries.values())).endswith("required runs left: 4, 10 epochs (both stages)")
    campaign.main(["--runs", str(runs), "--queue", str(queue_file), "export", str(archive)])
    with pytest.raises(SystemExit, match="exported to a GPU call at .*: take its work back first"):
        campaign.main(["--runs", str(runs), "--queue", str(queue_file), "start"])  # no run in two places

    device = tmp_path / "device"  # what a device call does: extract, continue, pack RUNS_DIR back
    device.mkdir()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("campaign_export.json").read())
        assert (manifest["runs"], manifest["checkpoints"]) == (["cut", "fresh", "after"], ["done"])
        assert "done/model.safetensors" in names and not any(n.startswith("held") for n in names)
        assert [n for n in names if n.startswith("cut/backup/")] == ["cut/backup/epoch-000002"]
        tar.extractall(device / "runs", filter="data")
    # Two epochs there (backup epoch-000004), then a stop between the 5th epoch's log row and its backup.
    write_log(device / "runs" / "cut" / "train_log.csv", [60.0, 61.0, 3.0, 3.0, 3.0])
    os.rename(device / "runs" / "cut" / "backup" / "epoch-000002", device / "runs" / "cut" / "backup" / "epoch-000004")
    (device / "runs" / "fresh" / "backup").mkdir(parents=True)  # got a slot, stopped before its first epoch
    (device / "runs" / "after" / "backup" / "epoch-000001").mkdir(parents=True)  # started there: one epoch
    write_log(device / "runs" / "after" / "train_log.csv", [3.0])
    (device / "runs" / "device.json").write_text(json.dumps({"torch": "2.11.0+cu130", "gpu": "NVIDIA H200"}))
    (device / "runs" / "cut.log").write_text("epoch 1\nepoch 2\nepoch 3 (gpu)\nepoch 4 (gpu)\n")
    returned = tmp_path / "returned.tgz"
    with tarfile.open(returned, "w:gz") as tar:
        tar.add(device / "runs", arcname="device")
    data = returned.read_bytes()  # device_pack.sh splits it into parts (16 MiB per returned file)
    parts = [tmp_path / "runs.tgz.part00", tmp_path / "runs.tgz.part01"]
    parts[0].write_bytes(data[:100])
    parts[1].write_bytes(data[100:])
    campaign.main(["--runs", str(runs), "--queue", str(queue_file), "import", *map(str, parts), "--machine", "H200"])

    assert "epoch 4 (gpu)" in (runs / "cut.log").read_text()
    cut = campaign.progress(entries["cut"], runs)
    assert cut.done == 4
    # The GPU's epochs (rows 3-4) are recorded, and this CPU's rate and ETA leave them out.
    (segment,) = campaign.segments(runs, "cut")
    assert segment["machine"] == "H200" and segment["commit"] == "c" * 40
    assert segment["epochs"] == {"train_log.csv": [2, 4]} and segment["epoch_seconds"] == 6.0
    assert segment["resume"] is True
    (started,) = campaign.segments(runs, "after")  # its first process there started it afresh
    assert started["epochs"] == {"train_log.csv": [0, 1]} and started["resume"] is False
    assert (segment["torch"], segment["gpu"]) == ("2.11.0+cu130", "NVIDIA H200")
    assert cut.seconds_per_epoch == 60.5 and cut.note == "2 epochs on H200"
    assert campaign.segments(runs, "fresh") == []  # exported, never trained there: no segment, no GPU in its card
    assert not (runs / ".import").exists() and not (runs / campaign.EXPORTED_MARK).exists()


def test_export_refuses_while_the_daemon_runs(tmp_path):
    held = campaign.lock(tmp_path)
    try:
        with pytest.raises(SystemExit, match="is running; export needs it stopped"):
            campaign.main(["--runs", str(tmp_path), "export", str(tmp_path / "x.tgz")])
    finally:
        held.close()


def test_device_pack_keeps_the_newest_backup_and_returns_parts_import_reads(tmp_path):
    runs = tmp_path / "runs"
    for snapshot in ("epoch-000001", "epoch-000002", "epoch-000003.partial"):
        (runs / "r" / "backup" / snapshot).mkdir(parents=True)
        (runs / "r" / "backup" / snapshot / "state.json").write_text(snapshot)
    (runs / "done" / "stage1").mkdir(parents=True)  # no backup folder: left as it is
    (runs / "fresh" / "backup").mkdir(parents=True)  # stopped before its first epoch: an empty backup
    out = tmp_path / "out"
    out.mkdir()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # its python3: this one, with torch
    subprocess.run(["bash", str(REPO / "benchmarks" / "device_pack.sh"), str(runs), str(out)], check=True,
                   capture_output=True, env={**os.environ, "PATH": path})
    parts = sorted(out.iterdir())
    assert [p.name for p in parts] == ["runs.tgz.part00"]
    with tarfile.open(parts[0]) as tar:
        names = set(tar.getnames())
    assert "runs/r/backup/epoch-000002/state.json" in names and "runs/done/stage1" in names
    assert "runs/fresh/backup" in names
    import torch

    assert json.loads((runs / "device.json").read_text())["torch"] == torch.__version__  # the cards name it
    assert not any("epoch-000001" in n or "partial" in n for n in names)


def test_the_device_daemon_runs_the_export_and_its_waiting_runs_until_the_deadline(repo, tmp_path, monkeypatch):
    """On a GPU call: the exported runs, then a run waiting on one of them; nothing else of the queue."""
    runs = tmp_path / "runs"
    runs.mkdir()
    queue = [{"name": n, "recipe": write_recipe(repo, n, 1)} for n in ("shipped", "cmo", "slow", "other")]
    queue.append({"name": "afr", "recipe": write_recipe(repo, "afr", 1), "init_from_run": "cmo"})
    queue_file = write_queue(tmp_path / "q.json", queue)
    manifest = {"commit": "e" * 40, "exported": "t", "runs": ["cmo", "slow"], "waiting": ["afr"]}
    (runs / campaign.EXPORT_MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setattr(campaign, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(campaign, "MIN_DEVICE_SECONDS", 0.5)
    monkeypatch.setattr(campaign, "STOP_GRACE_SECONDS", 1.0)
    monkeypatch.setattr(campaign, "_git", lambda *args: pytest.fail("no git on the device"))
    commands = {}

    class Scripted(campaign.DeviceDaemon):
        def command(self, entry, code):
            commands[entry.name] = super().command(entry, code)
            if entry.name == "slow":  # ignores Ctrl-C: killed after the grace
                return [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                        "time.sleep(60)"]
            run_dir = self.runs / entry.name
            return [sys.executable, "-c", f"import pathlib; p = pathlib.Path({str(run_dir)!r}); "
                    "p.mkdir(); (p / 'model.safetensors').write_bytes(b'')"]

    started = time.time()
    Scripted(runs, tmp_path / "data", slots=2, threads=1, seconds=3.0, queue_file=queue_file).run()
    assert 3.0 <= time.time() - started < 30
    assert sorted(commands) == ["afr", "cmo", "slow"]  # "shipped" and "other" were not exported
    assert commands["afr"][commands["afr"].index("--init-from") + 1] == os.path.join(os.curdir, "cmo")
    assert campaign.is_finished(runs / "afr") and not (runs / "slow.failed").exists()  # stopped, not failed
    assert campaign.segments(runs, "slow")[0]["commit"] == "e" * 40
    log = (runs / "afr.log").read_text()
    assert "device: " in log and campaign.launches(log) == []  # never taken for a CPU campaign process
