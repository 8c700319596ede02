"""The zoo's full-recipe training campaign: an ordered queue of recipes, trained in the background.

    python benchmarks/campaign.py start     # detach a daemon that works through the queue (idempotent)
    python benchmarks/campaign.py status    # each run: state, stage, epoch/total, s/epoch, ETA
    python benchmarks/campaign.py page      # write zoo/results/campaign.md (the committed progress page)
    python benchmarks/campaign.py stop      # Ctrl-C every run (each keeps its backup) and the daemon
    python benchmarks/campaign.py ship NAME # a finished run replaces its zoo entry's short30 checkpoint
    python benchmarks/campaign.py export F  # (daemon stopped) the runs a GPU call should continue, in F.tgz
    python3 benchmarks/campaign.py --runs R device --data-dir D --seconds S  # (on the GPU) continue an export
    python benchmarks/campaign.py import F  # the GPU call's returned runs (F: the archive or its parts) come back

The queue is `benchmarks/campaign_queue.json`. Runs live outside the checkout, in
`~/.cache/keras-lt/campaign` (`KERAS_LT_CAMPAIGN` or `--runs`), which later sessions inherit:
`<name>/` is the run's `--output`, `<name>.log` its stdout, `<name>.segments.jsonl` one line per
process that worked on it (start, end, commit, exit code, wall and CPU seconds). A live process's
line is kept in `<name>.process.json`, its wall and CPU time updated every few seconds, because the
end of a session kills the daemon and its runs alike: the next daemon appends that last known state
as a segment with exit "lost". A process older than that mechanism is recovered from its launch
line in `<name>.log` (commit, start; wall time the epochs it logged; CPU time unknown).

`start` detaches a daemon that holds `campaign.lock` (an `flock`, released by the kernel when the
daemon dies, so a stale lock cannot block a later start); a second `start` finds it held and only
reports. The daemon renices itself to 19, fills `--slots` slots with the first runnable entries of
the queue (not finished, not held, not failed, their `init_from_run` finished), and runs each as
`keras-lt train ... [--resume]` with `--threads` OpenMP threads and `OMP_WAIT_POLICY=PASSIVE`
(`benchmarks/results/campaign_threads_cpu.log` measured the arrangement). A run with a backup
(stage 1, between the stages, stage 2) is resumed; a finished one stays in its directory until it
is shipped into the zoo.

Every run trains with the code of one commit: the first process of a run snapshots the committed
HEAD into `code/<commit>/` (the package laid out as the wheel lays it out) and every later process
of that run resumes with the same snapshot, so a checkpoint's numbers come from one version of the
code however many sessions it spans. `start --upgrade-code` moves the runs it resumes to HEAD (for
a fix the running runs need, such as a safer backup; the segments record each commit), and so
does a GPU call: `export` hands its runs to the device with HEAD's wheel, and `import` records
that commit, which the CPU then continues with. A run that exits non-zero (other than by `stop`) is marked
`<name>.failed` with the reason and skipped until `start --retry-failed`.
"""

import argparse
import csv
import dataclasses
import datetime
import fcntl
import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUEUE_FILE = REPO / "benchmarks" / "campaign_queue.json"
PAGE_FILE = REPO / "zoo" / "results" / "campaign.md"
SHARED_DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg-q75.tar.gz"
CACHE = Path(os.environ.get("KERAS_LT_CACHE", "~/.cache/keras-lt")).expanduser()
DEFAULT_RUNS = Path(os.environ.get("KERAS_LT_CAMPAIGN", CACHE / "campaign")).expanduser()
DEFAULT_DATA = CACHE / "cifar10-jpeg-q75"
# keras_lt.run_directory's run layout (tests/test_campaign.py checks these against it; importing
# keras_lt here would cost `status` the seconds of importing torch).
INTERRUPTED_DIRS = ("backup", "stage1", "finetune_backup")
STAGE1_LOG, STAGE2_LOG = "train_log.csv", "finetune_log.csv"
BACKUP_OF_LOG = {STAGE1_LOG: "backup", STAGE2_LOG: "finetune_backup"}
# The package as its wheel lays it out (pyproject.toml's package-dir).
PACKAGE_DIRS = {"keras_lt": "keras_lt", "cli": "keras_lt/cli", "zoo": "keras_lt/zoo"}
RECENT_EPOCHS = 10  # seconds per epoch: the median of the stage's last epochs
POLL_SECONDS = 5
PROCESS_SUFFIX = ".process.json"  # the segment of a live process, checkpointed every poll
LAUNCH_SLACK_SECONDS = 5  # a segment's start and its log line's time are written moments apart
MIN_DEVICE_SECONDS = 60  # a device call starts no run with less left (its first epoch would not finish)
STOP_GRACE_SECONDS = 30  # a device run Ctrl-C'd at the deadline is killed if still alive this long after


@dataclasses.dataclass(frozen=True)
class Entry:
    """One run of the queue.

    Args:
        name: the run's name (its directory under the runs directory; the zoo entry it ships to).
        recipe: a zoo recipe name, or a recipe JSON path relative to the repository.
        hold: why the run must not start yet (its recipe is about to change), or None.
        init_from_run: the campaign run whose checkpoint a stage-2 recipe starts from.
        optional: a run after the required queue.
    """

    name: str
    recipe: str
    hold: str = None
    init_from_run: str = None
    optional: bool = False

    def recipe_path(self):
        """The recipe file in the repository."""
        if self.recipe.endswith(".json"):
            return REPO / self.recipe
        return REPO / "zoo" / self.recipe / "recipe.json"


def load_queue(path=QUEUE_FILE):
    """The queue's entries, in order; one line naming the problem if the file is malformed."""
    with open(path) as f:
        runs = json.load(f)["runs"]
    entries = [Entry(**{"recipe": run["name"], **run}) for run in runs]
    names = [e.name for e in entries]
    for entry in entries:
        if names.count(entry.name) > 1:
            raise SystemExit(f"{path}: run {entry.name} is queued twice.")
        if entry.recipe.endswith(".json") and not entry.recipe.startswith("zoo/"):
            raise SystemExit(f"{path}: {entry.name}'s recipe file must lie under zoo/ (the code snapshot holds it).")
        if entry.init_from_run and entry.init_from_run not in names[: names.index(entry.name)]:
            raise SystemExit(f"{path}: {entry.name} starts from {entry.init_from_run}, which must be queued before it.")
    return entries


def load_methods(path=QUEUE_FILE):
    """The queue's `methods`: zoo name -> label and published top-1, the full-recipe table's rows."""
    with open(path) as f:
        return json.load(f)["methods"]


# ---------------------------------------------------------------- reading a run's state from disk


@dataclasses.dataclass
class Progress:
    """Where a run stands, read from its directory: stage, epochs, seconds per epoch, ETA."""

    state: str  # queued, held, waiting, running, interrupted, failed, done
    stage: str = "-"
    done: int = 0
    total: int = 0
    seconds_per_epoch: float = None
    eta_seconds: float = None
    note: str = ""
    epochs_left: int = 0  # both stages


def _log_seconds(path):
    """The `seconds` column of a per-epoch CSV log (empty if there is none)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f) if row.get("seconds") not in (None, "", "NA")]


def read_recipe(entry, runs):
    """The recipe the run trains: its saved `recipe.json` once started, else the queue's file."""
    saved = runs / entry.name / "recipe.json"
    with open(saved if saved.is_file() else entry.recipe_path()) as f:
        return json.load(f)


def is_finished(run_dir):
    """A run whose checkpoint is written and whose backups are gone."""
    return (run_dir / "model.safetensors").is_file() and not any((run_dir / d).is_dir() for d in INTERRUPTED_DIRS)


def progress(entry, runs, running=(), finished=()):
    """The `Progress` of `entry` in `runs`; `running` / `finished` are the names the daemon reports."""
    run_dir = runs / entry.name
    recipe = read_recipe(entry, runs)
    stage1_total = 0 if (recipe.get("init_from") or entry.init_from_run) else recipe["epochs"]
    stage2_total = (recipe.get("finetune") or {}).get("epochs", 0)
    # the epochs a resume continues after (a log row written before a stop cut its backup is not one)
    seconds1, seconds2 = (_log_seconds(run_dir / log)[:_epochs_kept(run_dir, log)] for log in (STAGE1_LOG, STAGE2_LOG))
    done1, done2 = min(len(seconds1), stage1_total), min(len(seconds2), stage2_total)
    run_segments = segments(runs, entry.name)
    elsewhere = device_epochs(run_segments)
    here1, here2 = (_here(seconds, elsewhere.get(log, ())) for seconds, log in ((seconds1, STAGE1_LOG),
                                                                                  (seconds2, STAGE2_LOG)))
    if done1 < stage1_total or not stage2_total:
        stage, done, total, recent = ("1" if stage2_total else "-"), done1, stage1_total, here1
    else:
        stage, done, total, recent = "2", done2, stage2_total, here2
    recent = recent[-RECENT_EPOCHS:]
    rate = statistics.median(recent) if recent else None
    rate1 = statistics.median(here1[-RECENT_EPOCHS:]) if here1 else rate
    eta = None
    if rate1 is not None:  # stage 2 not yet started: its epochs costed at stage 1's rate
        eta = (stage1_total - done1) * rate1 + (stage2_total - done2) * (rate if stage == "2" else rate1)
    failed = runs / f"{entry.name}.failed"
    if entry.name in running:
        state = "running"
    elif is_finished(run_dir) or entry.name in finished:
        state, eta = "done", 0.0
    elif failed.is_file():
        state = "failed"
    elif any((run_dir / d).is_dir() for d in INTERRUPTED_DIRS):
        state = "interrupted"
    elif entry.hold:
        state = "held"
    elif entry.init_from_run and not is_finished(runs / entry.init_from_run):
        state = "waiting"
    else:
        state = "queued"
    note = entry.hold if state == "held" else ""
    if state == "failed":
        note = failed.read_text().strip().splitlines()[0]
    elif state == "waiting":
        note = f"starts from {entry.init_from_run}"
    moved = device_machines(run_segments)
    if moved:
        note = "; ".join(n for n in (note, ", ".join(f"{n} epoch{'s' * (n != 1)} on {m}" for m, n in moved.items())) if n)
    left = 0 if state == "done" else (stage1_total - done1) + (stage2_total - done2)
    return Progress(state, stage, done, total, rate, eta, note, left)


def runnable(entries, runs, busy, retry_failed=False):
    """The next entry a free slot should train: queue order, required runs first, none held or busy."""
    for entry in sorted(entries, key=lambda e: e.optional):  # stable: queue order within each group
        if entry.name in busy or entry.hold or is_finished(runs / entry.name):
            continue
        if (runs / f"{entry.name}.failed").is_file() and not retry_failed:
            continue
        if entry.init_from_run and not is_finished(runs / entry.init_from_run):
            continue
        return entry
    return None


def segments(runs, name):
    """The recorded processes of a run (`<name>.segments.jsonl`), in the order they started.

    (Recovered segments are appended after later ones were recorded; ISO times sort as strings.)
    """
    path = runs / f"{name}.segments.jsonl"
    if not path.is_file():
        return []
    recorded = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(recorded, key=lambda segment: segment.get("start") or "")


def device_epochs(run_segments):
    """The epochs of a run that a GPU call trained: per-epoch log name -> set of row indices."""
    rows = {}
    for segment in run_segments:
        for log, (first, end) in (segment.get("epochs") or {}).items():
            rows.setdefault(log, set()).update(range(first, end))
    return rows


def device_machines(run_segments):
    """How many epochs of a run each GPU machine trained (from the import segments)."""
    counts = {}
    for segment in run_segments:
        trained = sum(end - first for first, end in (segment.get("epochs") or {}).values())
        if trained:
            counts[segment["machine"]] = counts.get(segment["machine"], 0) + trained
    return counts


def _here(seconds, elsewhere):
    """The per-epoch seconds of the epochs this machine trained (a GPU's epochs left out)."""
    return [s for i, s in enumerate(seconds) if i not in elsewhere]


def append_segment(runs, name, segment):
    with open(runs / f"{name}.segments.jsonl", "a") as f:
        f.write(json.dumps(segment) + "\n")


def process_cpu_seconds(pid):
    """User + system CPU seconds of a live process (its threads and waited-for children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime, stime, cutime, cstime


LAUNCH_LINE = re.compile(r"^# (\S+) campaign: (.*)  \(commit ([0-9a-f]{40}), (\d+) threads\)$")
EPOCH_SECONDS = re.compile(r" - seconds: ([0-9.]+)")


def launches(log_text):
    """`(start, commit, resume, threads, logged epoch seconds)` of every process in a run's log."""
    found = []
    for line in log_text.splitlines():
        match = LAUNCH_LINE.match(line)
        if match:
            start, command, commit, threads = match.groups()
            found.append([start, commit, "--resume" in command.split(), int(threads), 0.0])
        elif found and (seconds := EPOCH_SECONDS.search(line)):
            found[-1][4] += float(seconds.group(1))
    return found


def _seconds_between(earlier, later):
    parse = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return abs((parse(later) - parse(earlier)).total_seconds())


def recover_segments(runs, name):
    """Appends the segments of a run's processes that ended without being recorded (killed with a session).

    Called by a daemon holding the lock, before it launches anything, so none of them still runs.
    A `<name>.process.json` becomes a segment with its last checkpointed times; a launch line in the
    log that no segment matches (a process of a daemon before this mechanism) becomes one with the
    seconds of the epochs it logged as its wall time and its CPU time unknown (null).
    """
    current = runs / f"{name}{PROCESS_SUFFIX}"
    if current.is_file():
        try:
            segment = json.loads(current.read_text())
        except json.JSONDecodeError:  # killed mid-write of the checkpoint: the launch line still has it
            segment = None
        if segment:
            append_segment(runs, name, {**segment, "exit": "lost"})
        current.unlink()
    log = runs / f"{name}.log"
    if not log.is_file():
        return
    starts = [s["start"] for s in segments(runs, name) if s.get("start")]
    for start, commit, resume, threads, seconds in launches(log.read_text()):
        if any(_seconds_between(start, known) <= LAUNCH_SLACK_SECONDS for known in starts):
            continue
        append_segment(runs, name, {
            "start": start, "end": None, "commit": commit, "resume": resume, "threads": threads, "slots": None,
            "exit": "lost", "wall_seconds": round(seconds, 1), "cpu_seconds": None,
            "estimated": "recovered from the log: wall = its logged epochs' seconds, CPU unknown",
        })


# ---------------------------------------------------------------- the daemon


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_json(path, value):
    """Writes `value` as JSON to `path` in one step (a reader or a kill never sees half of it)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2))
    os.replace(partial, path)


def _git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def snapshot(runs, commit):
    """`runs/code/<commit>`: the package of `commit` laid out as its wheel installs it (made once)."""
    target = runs / "code" / commit
    if (target / ".complete").is_file():
        return target
    partial = runs / "code" / f"{commit}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for source, destination in PACKAGE_DIRS.items():
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, source],
                                 check=True, capture_output=True).stdout
        (partial / destination).mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                member.name = os.path.relpath(member.name, source)
            tar.extractall(partial / destination, filter="data")
    (partial / ".complete").write_text(f"{commit}\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target


def ensure_data(data_dir):
    """The CIFAR-10 JPEG folder; extracted from the shared tarball the first time."""
    if (data_dir / "train").is_dir():
        return data_dir
    if data_dir == DEFAULT_DATA and SHARED_DATA.is_file():
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(SHARED_DATA) as tar:
            tar.extractall(data_dir.parent, filter="data")
        return data_dir
    raise SystemExit(f"no training data in {data_dir}; extract {SHARED_DATA.name} there or pass --data-dir.")


class Daemon:
    """Works through the queue with `slots` concurrent runs until it is finished, held or stopped."""

    launch_word = "campaign"  # its launch lines in a run's log: `recover_segments` reads them back

    def __init__(self, runs, data_dir, slots, threads, retry_failed, queue_file=QUEUE_FILE, upgrade_code=False):
        self.runs, self.data_dir, self.slots, self.threads = runs, data_dir, slots, threads
        self.retry_failed, self.queue_file, self.upgrade_code = retry_failed, queue_file, upgrade_code
        self.children = {}  # name -> (pid, segment so far, start time)
        self.stopping = False

    def entries(self):
        """The queue, re-read at every poll: a lifted hold takes effect at once."""
        return load_queue(self.queue_file)

    def code(self, entry):
        """`(commit, package root)` a run trains with: its last process's snapshot (HEAD if upgrading)."""
        earlier = segments(self.runs, entry.name)
        commit = earlier[-1]["commit"] if earlier and not self.upgrade_code else _git("rev-parse", "HEAD")
        return commit, snapshot(self.runs, commit)

    def time_is_up(self):
        """Whether the runs must stop now (never, for the CPU campaign)."""
        return False

    def command(self, entry, code):
        run_dir = self.runs / entry.name
        # A zoo name resolves in the snapshot's keras_lt.zoo; a JSON path zoo/... is keras_lt/zoo/... there.
        recipe = str(code / "keras_lt" / entry.recipe) if entry.recipe.endswith(".json") else entry.recipe
        command = [sys.executable, "-m", "keras_lt.cli.main", "train", "--recipe", recipe,
                   "--data-dir", str(self.data_dir), "--output", str(run_dir)]
        if entry.init_from_run:  # relative to the runs directory (the cwd): the same on every machine's copy,
            # so that a run resumed elsewhere (a GPU call's /tmp/runs) has the recipe it started with
            command += ["--init-from", os.path.join(os.curdir, entry.init_from_run)]
        if any((run_dir / d).is_dir() for d in INTERRUPTED_DIRS):
            command.append("--resume")
        return command

    def launch(self, entry):
        """Starts (or resumes) `entry` with the code `self.code` gives it."""
        commit, code = self.code(entry)
        command = self.command(entry, code)
        env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE",
               "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads), "KERAS_BACKEND": "torch"}
        (self.runs / f"{entry.name}.failed").unlink(missing_ok=True)
        log = open(self.runs / f"{entry.name}.log", "a")
        log.write(f"\n# {_now()} {self.launch_word}: {' '.join(command)}  (commit {commit}, {self.threads} threads)\n")
        log.flush()
        # cwd: the runs directory, so that no checkout's keras_lt/ shadows the snapshot.
        pid = subprocess.Popen(command, cwd=self.runs, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL).pid
        log.close()
        segment = {"start": _now(), "end": None, "commit": commit, "resume": "--resume" in command,
                   "threads": self.threads, "slots": self.slots, "exit": None, "wall_seconds": 0.0, "cpu_seconds": 0.0,
                   "torch": importlib.metadata.version("torch")}  # the runs' Python is this one (sys.executable)
        self.children[entry.name] = (pid, segment, time.time())
        self.checkpoint(entry.name)

    def checkpoint(self, name):
        """Writes the live process's segment so far to `<name>.process.json` (atomically)."""
        pid, segment, started = self.children[name]
        cpu = process_cpu_seconds(pid)
        segment.update(end=_now(), wall_seconds=round(time.time() - started, 1),
                       **({"cpu_seconds": round(cpu, 1)} if cpu is not None else {}))
        _write_json(self.runs / f"{name}{PROCESS_SUFFIX}", segment)

    def reap(self):
        """Records every child that exited: its segment, and a `.failed` mark unless it was stopped."""
        for name, (pid, segment, started) in list(self.children.items()):
            waited, status, usage = os.wait4(pid, os.WNOHANG)
            if not waited:
                self.checkpoint(name)
                continue
            del self.children[name]
            code = os.waitstatus_to_exitcode(status)
            segment.update(end=_now(), exit=code, wall_seconds=round(time.time() - started, 1),
                           cpu_seconds=round(usage.ru_utime + usage.ru_stime, 1))
            append_segment(self.runs, name, segment)
            (self.runs / f"{name}{PROCESS_SUFFIX}").unlink(missing_ok=True)
            if code != 0 and not self.stopping:
                tail = (self.runs / f"{name}.log").read_text().strip().splitlines()[-1:] or ["(no output)"]
                (self.runs / f"{name}.failed").write_text(f"exit {code} at {segment['end']}: {tail[0]}\n")

    def write_state(self):
        state = {"pid": os.getpid(), "since": self.since, "slots": self.slots, "threads": self.threads,
                 "running": {name: child[0] for name, child in self.children.items()}}
        _write_json(self.runs / "campaign.state.json", state)

    def stop(self, *_):
        self.stopping = True
        for pid, *_ in self.children.values():  # keras-lt train ends a Ctrl-C keeping its backup
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def run(self):
        os.nice(19 - os.nice(0))
        self.since = _now()
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        print(f"{_now()} {self.launch_word} daemon {os.getpid()}: {self.slots} slot(s) x {self.threads} thread(s)",
              flush=True)
        for entry in load_queue(self.queue_file):
            recover_segments(self.runs, entry.name)
        while True:
            self.reap()
            if not self.stopping and self.time_is_up():
                self.stop()
            if not self.stopping:
                entries = self.entries()
                while len(self.children) < self.slots:
                    entry = runnable(entries, self.runs, self.children, self.retry_failed)
                    if entry is None:
                        break
                    print(f"{_now()} start {entry.name}", flush=True)
                    self.launch(entry)
                self.retry_failed = False
            self.write_state()
            if not self.children:
                break
            time.sleep(POLL_SECONDS)
        print(f"{_now()} {self.launch_word} daemon {os.getpid()}: {'stopped' if self.stopping else 'nothing left to run'}",
              flush=True)


class DeviceDaemon(Daemon):
    """The campaign on a lent GPU machine: the exported runs and those waiting on them, until a deadline.

    Runs in the device call's RUNS_DIR (a `campaign.py export` unpacked), with the keras-lt installed
    there (the wheel `benchmarks/device_prepare.sh` builds, from the exported commit): no git, no
    snapshots. It fills `slots` slots in queue order, starts a run whose `init_from_run` finishes
    during the call (AFR after CMO), starts nothing with less than `MIN_DEVICE_SECONDS` left, and at
    the deadline Ctrl-Cs its runs (each keeps its per-epoch backup), killing any still alive
    `STOP_GRACE_SECONDS` later. Its launch lines say "device:", so that the CPU campaign's
    `recover_segments` never takes them for its own processes.
    """

    launch_word = "device"

    def __init__(self, runs, data_dir, slots, threads, seconds, queue_file=QUEUE_FILE):
        super().__init__(runs, data_dir, slots, threads, retry_failed=False, queue_file=queue_file)
        manifest = json.loads((runs / EXPORT_MANIFEST).read_text())
        self.names = set(manifest["runs"]) | set(manifest.get("waiting", []))
        self.commit = manifest["commit"]
        self.deadline = time.time() + seconds
        self.stop_time = None

    def entries(self):
        if self.deadline - time.time() < MIN_DEVICE_SECONDS:
            return []
        return [e for e in load_queue(self.queue_file) if e.name in self.names]

    def code(self, entry):
        import importlib.util

        return self.commit, Path(importlib.util.find_spec("keras_lt").origin).parents[1]

    def time_is_up(self):
        return time.time() >= self.deadline

    def stop(self, *args):
        if self.stop_time is None:
            self.stop_time = time.time()
            super().stop(*args)

    def reap(self):
        super().reap()
        if self.stop_time and time.time() - self.stop_time > STOP_GRACE_SECONDS:
            for pid, *_ in self.children.values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def lock(runs):
    """The campaign lock (an open file holding an exclusive flock), or None if another daemon has it."""
    runs.mkdir(parents=True, exist_ok=True)
    handle = open(runs / "campaign.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def daemon_state(runs):
    """The live daemon's state file, or None when no daemon holds the lock."""
    handle = lock(runs)
    if handle is not None:
        handle.close()
        return None
    try:
        return json.loads((runs / "campaign.state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {"running": {}}


# ---------------------------------------------------------------- commands


def _duration(seconds):
    if seconds is None:
        return "-"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours}h{minutes:02d}" if hours else f"{minutes}m"


def table(runs, entries, state):
    """Status rows: recipe, state, stage, epoch/total, s/epoch, ETA (of the run alone), note."""
    running = set((state or {}).get("running", {}))
    rows = []
    for entry in entries:
        p = progress(entry, runs, running)
        rate = f"{p.seconds_per_epoch:.1f}" if p.seconds_per_epoch else "-"
        note = "; ".join(n for n in ("optional" if entry.optional else "", p.note) if n)
        rows.append([entry.name, p.state, p.stage, f"{p.done}/{p.total}", rate, _duration(p.eta_seconds), note])
    return rows


def totals(runs, entries):
    """The campaign so far, in words: hours of its epochs (from the logs, running runs included), and
    the wall clock and CPU time of its ended processes (from the segments)."""
    done = [s for e in entries for s in segments(runs, e.name)]
    epochs = sum(sum(_log_seconds(runs / e.name / log)) for e in entries for log in (STAGE1_LOG, STAGE2_LOG))
    wall = sum(s["wall_seconds"] or 0 for s in done) / 3600
    cpu = sum(s["cpu_seconds"] or 0 for s in done) / 3600
    unknown = sum(s["cpu_seconds"] is None for s in done)
    gpu = sum(s.get("epoch_seconds") or 0 for s in done) / 3600
    required = [progress(e, runs) for e in entries if not e.optional]
    left = sum(p.epochs_left for p in required)
    unfinished = sum(p.state != "done" for p in required)
    return (f"{epochs / 3600:.1f} h of training epochs (logs, running runs included"
            + (f"; {gpu:.1f} h of them on lent GPUs" if gpu else "") + f"); ended CPU processes: {wall:.1f} h "
            f"wall clock, {cpu:.1f} CPU-hours" + (f" ({unknown} of them recovered from a log: CPU time unknown)"
                                                   if unknown else "")
            + f"; required runs left: {unfinished}, {left} epochs (both stages)")


def cmd_status(args):
    entries = load_queue(args.queue)
    state = daemon_state(args.runs)
    header = ["run", "state", "stage", "epoch", "s/epoch", "ETA", "note"]
    rows = table(args.runs, entries, state)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    if state:
        print(f"daemon {state.get('pid')} since {state.get('since')}: {state.get('slots')} slot(s) x "
              f"{state.get('threads')} thread(s); runs in {args.runs}")
    else:
        print(f"no daemon running; runs in {args.runs} (start it: python benchmarks/campaign.py start)")
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"campaign so far: {totals(args.runs, entries)}")


def cmd_page(args):
    entries = load_queue(args.queue)
    rows = table(args.runs, entries, daemon_state(args.runs))
    lines = [
        "# The full-recipe campaign: progress",
        "",
        "Written by `python benchmarks/campaign.py page` from the campaign's runs (issue 11; queue in",
        "`benchmarks/campaign_queue.json`, how it works in `benchmarks/README.md`). Machine: the 2-core CPU",
        "of the development machines, runs at `nice 19` beside other work, so seconds per epoch vary with",
        "what else ran. s/epoch: median of the last 10 epochs of the current stage trained on this CPU (epochs",
        "a lent GPU trained are left out, and counted in the note); ETA: that run alone, on this CPU.",
        "",
        f"Updated {_now()}. So far: {totals(runs=args.runs, entries=entries)}.",
        "",
        "| run | state | stage | epoch | s/epoch | ETA | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += ["| " + " | ".join(f"`{r[0]}`" if i == 0 else str(r[i]) for i in range(len(r))) + " |" for r in rows]
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


def cmd_start(args):
    if (args.runs / EXPORTED_MARK).is_file():
        exported = json.loads((args.runs / EXPORTED_MARK).read_text())
        raise SystemExit(f"the runs were exported to a GPU call at {exported['exported']}: take its work back first "
                         f"(python benchmarks/campaign.py import PARTS...), or, if it brought nothing back, remove "
                         f"{args.runs / EXPORTED_MARK} and start again.")
    handle = lock(args.runs)
    if handle is None:
        state = daemon_state(args.runs) or {}
        print(f"the campaign is already running (daemon {state.get('pid')}); see: python benchmarks/campaign.py status")
        return
    handle.close()  # the daemon takes it again; a start racing this one finds it held there
    data_dir = ensure_data(args.data_dir.expanduser())
    command = [sys.executable, __file__, "--runs", str(args.runs), "--queue", str(args.queue), "daemon",
               "--data-dir", str(data_dir), "--slots", str(args.slots), "--threads", str(args.threads)]
    command += [flag for flag, on in (("--retry-failed", args.retry_failed), ("--upgrade-code", args.upgrade_code)) if on]
    if args.foreground:
        return subprocess.run(command, check=False).returncode
    with open(args.runs / "campaign.log", "a") as log:
        pid = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True).pid
    print(f"campaign daemon {pid} started ({args.slots} slot(s) x {args.threads} thread(s)); "
          f"log {args.runs / 'campaign.log'}; python benchmarks/campaign.py status")


def cmd_daemon(args):
    handle = lock(args.runs)
    if handle is None:
        print(f"{_now()} another campaign daemon holds {args.runs / 'campaign.lock'}; exiting", flush=True)
        return
    Daemon(args.runs, args.data_dir, args.slots, args.threads, args.retry_failed, args.queue, args.upgrade_code).run()
    handle.close()


def cmd_device(args):
    """On a lent GPU machine: the exported runs, in slots, until `--seconds` have passed."""
    DeviceDaemon(args.runs, args.data_dir, args.slots, args.threads, args.seconds, args.queue).run()


def cmd_stop(args):
    state = daemon_state(args.runs)
    if not state or "pid" not in state:
        print("no campaign daemon is running.")
        return
    os.kill(state["pid"], signal.SIGTERM)
    print(f"asked daemon {state['pid']} to stop; its runs keep their backups (start resumes them).")


EXPORT_MANIFEST = "campaign_export.json"
EXPORTED_MARK = "exported.json"  # the runs are out on a GPU call: `start` waits for `import`
DEVICE_FILE = "device.json"  # benchmarks/device_pack.sh: the device's torch and GPU


def _refuse_while_running(runs, what):
    state = daemon_state(runs)
    if state:
        raise SystemExit(f"the campaign daemon {state.get('pid')} is running; {what} needs it stopped "
                         "(python benchmarks/campaign.py stop), so that no run trains in two places.")


def _complete_snapshots(backups):
    """A backup folder's complete states, oldest first (`epoch-N/`; an `epoch-N.partial/` is a write cut short)."""
    return sorted(p for p in backups.glob("epoch-*") if not p.name.endswith(".partial"))


def _older_snapshots(run_dir):
    """The backup states of a run that a resume does not read: all but each backup's newest, and partial ones."""
    older = set()
    for backups in (run_dir / d for d in BACKUP_OF_LOG.values()):
        older |= set(backups.glob("epoch-*.partial")) | set(_complete_snapshots(backups)[:-1])
    return older


def cmd_export(args):
    """Packs the runs a GPU call should continue (unfinished, not held, not waiting) with their backups.

    Each run travels with its newest backup state only. The manifest also names the runs waiting on
    an exported one (`init_from_run`), which the device's `campaign.py device` starts once that
    finishes there; a finished run that an exported one starts from travels as a checkpoint. A mark
    in the runs directory stops `start` until `import` takes the call's work back.
    """
    _refuse_while_running(args.runs, "export")
    queue = load_queue(args.queue)
    entries = [e for e in queue if not e.hold and progress(e, args.runs).state in ("queued", "interrupted")]
    if not entries:
        raise SystemExit("nothing to export: every run is finished, held, failed or waiting.")
    exported = {e.name for e in entries}
    waiting = [e.name for e in queue if e.init_from_run in exported and progress(e, args.runs).state == "waiting"]
    checkpoints = sorted({e.init_from_run for e in entries if e.init_from_run and e.init_from_run not in exported})
    commit = _git("rev-parse", "HEAD")
    manifest = {"commit": commit, "exported": _now(), "runs": [e.name for e in entries], "waiting": waiting,
                "checkpoints": checkpoints}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.output, "w:gz") as tar:
        for name in [e.name for e in entries] + checkpoints:
            older = {str(p.relative_to(args.runs)) for p in _older_snapshots(args.runs / name)}
            for path in (args.runs / name, args.runs / f"{name}.log"):
                if path.exists():
                    tar.add(path, arcname=path.name, filter=lambda info: None if info.name in older else info)
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo(EXPORT_MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    _write_json(args.runs / EXPORTED_MARK, manifest)
    print(f"wrote {args.output} ({len(entries)} runs, then {', '.join(waiting) or 'none'} waiting on them; commit "
          f"{commit[:7]}). On the device (R: the repository; benchmarks/README.md has the whole call):\n"
          f"  tar xzf {args.output.name} -C RUNS && python3 $R/benchmarks/campaign.py --runs RUNS device "
          "--data-dir DATA --seconds SECONDS && bash $R/benchmarks/device_pack.sh RUNS $OUT\n"
          "then here: python benchmarks/campaign.py import PARTS...")


def returned_epochs(before, after):
    """The epochs a GPU call added to a run: per-epoch log name -> [first row, end row), and their seconds.

    `before` is the campaign's copy of the run, `after` the returned one. These rows are left out of
    the run's seconds per epoch here (`progress`) and named in its card's process list.
    """
    epochs, seconds = {}, 0.0
    for log in (STAGE1_LOG, STAGE2_LOG):
        first, end = _epochs_kept(before, log), _epochs_kept(after, log)
        if end > first:
            epochs[log] = [first, end]
            seconds += sum(_log_seconds(after / log)[first:end])
    return epochs, seconds


def _epochs_kept(run_dir, log):
    """The epochs of a stage that a resume of `run_dir` continues after: its newest backup's, else its log's rows.

    (A stop between an epoch's log row and its backup leaves the log a row ahead; the resume trims it.)
    """
    snapshots = _complete_snapshots(run_dir / BACKUP_OF_LOG[log])
    return int(snapshots[-1].name.split("-")[1]) if snapshots else len(_log_seconds(run_dir / log))


def cmd_import(args):
    """Takes back the runs a GPU call continued: each replaces the campaign's copy; a segment records it."""
    _refuse_while_running(args.runs, "import")
    archive = io.BytesIO(b"".join(part.read_bytes() for part in args.input))  # device_pack.sh's parts, in order
    staging = args.runs / ".import"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(fileobj=archive) as tar:
        tar.extractall(staging, filter="data")
    roots = [p for p in staging.rglob(EXPORT_MANIFEST)]
    if len(roots) != 1:
        raise SystemExit(f"{' '.join(map(str, args.input))} holds no {EXPORT_MANIFEST}: it is not a returned "
                         "campaign export.")
    root = roots[0].parent
    manifest = json.loads(roots[0].read_text())
    device = json.loads((root / DEVICE_FILE).read_text()) if (root / DEVICE_FILE).is_file() else {}
    for name in manifest["runs"] + manifest.get("waiting", []):
        if not (root / name).is_dir():
            continue
        target = args.runs / name
        epochs, seconds = returned_epochs(target, root / name)
        resumed = _epochs_kept(target, STAGE1_LOG) > 0  # the call's first process continued a backup
        if not epochs and is_finished(root / name) == is_finished(target):
            print(f"{name}: not trained on {args.machine} (the campaign's copy stays)")
            continue
        shutil.rmtree(target, ignore_errors=True)
        os.replace(root / name, target)
        if (root / f"{name}.log").is_file():  # the device daemon appended to the exported log
            shutil.copyfile(root / f"{name}.log", args.runs / f"{name}.log")
        segment = {"start": manifest["exported"], "end": _now(), "commit": manifest["commit"], "resume": resumed,
                   "threads": None, "slots": None, "exit": None, "wall_seconds": 0.0, "cpu_seconds": 0.0,
                   "machine": args.machine, "epochs": epochs, "epoch_seconds": round(seconds, 1),
                   "torch": device.get("torch"), "gpu": device.get("gpu")}
        with open(args.runs / f"{name}.segments.jsonl", "a") as f:
            f.write(json.dumps(segment) + "\n")
        print(f"{name}: {progress(Entry(name, name), args.runs).state} after {args.machine}")
    shutil.rmtree(staging)
    (args.runs / EXPORTED_MARK).unlink(missing_ok=True)


def cmd_ship(args):
    import campaign_ship

    entries = {e.name: e for e in load_queue(args.queue)}
    if args.name not in entries:
        raise SystemExit(f"no run {args.name} in {args.queue}; choose one of: {', '.join(entries)}.")
    metrics = campaign_ship.ship(REPO, args.runs, entries[args.name], load_methods(args.queue),
                                 segments(args.runs, args.name), is_finished)
    print(f"shipped {args.name}: top-1 {metrics['top1']:.2f} (many {metrics['many']:.2f} / medium "
          f"{metrics['medium']:.2f}); review `git status`, run `python benchmarks/campaign.py page`, commit.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="Where the runs live (outside the checkout).")
    parser.add_argument("--queue", type=Path, default=QUEUE_FILE)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "daemon"):
        p = sub.add_parser(name, help="Start the background daemon (does nothing if one runs)." if name == "start"
                           else argparse.SUPPRESS)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
        p.add_argument("--slots", type=int, default=1, help="Concurrent runs (see campaign_threads_cpu.log).")
        p.add_argument("--threads", type=int, default=2, help="OpenMP threads per run.")
        p.add_argument("--retry-failed", action="store_true", help="Also start runs marked failed.")
        p.add_argument("--upgrade-code", action="store_true",
                       help="Resume interrupted runs with the code of HEAD instead of their own commit.")
        if name == "start":
            p.add_argument("--foreground", action="store_true", help="Run the daemon in this terminal.")
    sub.add_parser("status", help="Each run: state, stage, epoch/total, s/epoch, ETA.")
    page = sub.add_parser("page", help="Write the progress page.")
    page.add_argument("--output", type=Path, default=PAGE_FILE)
    sub.add_parser("stop", help="Ctrl-C the runs (they keep their backups) and end the daemon.")
    device = sub.add_parser("device", help="On a GPU call: continue an unpacked export until a deadline.")
    device.add_argument("--data-dir", type=Path, required=True)
    device.add_argument("--seconds", type=float, required=True, help="The deadline, from now.")
    device.add_argument("--slots", type=int, default=7, help="Concurrent runs (7 x 2 threads on 16 cores: "
                        "benchmarks/README.md).")
    device.add_argument("--threads", type=int, default=2, help="OpenMP threads per run.")
    export = sub.add_parser("export", help="Pack the runs a GPU call should continue, with their backups.")
    export.add_argument("output", type=Path)
    import_ = sub.add_parser("import", help="Take back the runs a GPU call continued.")
    import_.add_argument("input", type=Path, nargs="+", help="The returned archive, or its parts in order.")
    import_.add_argument("--machine", default="GPU (device tool)", help="Recorded in each run's segments.")
    ship = sub.add_parser("ship", help="Move a finished run into the zoo (benchmarks/campaign_ship.py).")
    ship.add_argument("name")
    args = parser.parse_args(argv)
    args.runs = args.runs.expanduser()
    if argv is None:  # the command line: `status | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    commands = {"start": cmd_start, "daemon": cmd_daemon, "status": cmd_status, "page": cmd_page, "stop": cmd_stop,
                "ship": cmd_ship, "export": cmd_export, "import": cmd_import, "device": cmd_device}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
