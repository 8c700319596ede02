"""A crash-safe per-epoch backup of a fit: every epoch's state is one directory, complete before it is named."""

import collections
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import warnings

import keras

from keras_lt.errors import KerasLTError
from keras_lt.kill_points import kill_point

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
FILES_DIR = "files"
FORMAT = "keras-lt-backup/1"
PARTIAL = ".partial"
_SNAPSHOT = re.compile(r"epoch-(\d+)")
# What keras.callbacks.BackupAndRestore(double_checkpoint=True) wrote: read once, when an older run resumes.
LEGACY_WEIGHTS = "latest.weights.h5"
LEGACY_METADATA = "training_metadata.json"
LEGACY_FILES = (LEGACY_WEIGHTS, LEGACY_METADATA, f"{LEGACY_WEIGHTS}.bkp", f"{LEGACY_METADATA}.bkp")

# `checksummed`: its files matched the checksums they were written with (a legacy state has none).
_Snapshot = collections.namedtuple(
    "_Snapshot", ["label", "epoch", "weights", "files", "iterations", "problem", "checksummed"], defaults=[False]
)


class Backup(keras.callbacks.Callback):
    """Backs up the trainer (weights, optimizer, method state) after every epoch; a new fit continues from it.

    Layout of `directory`:

        epoch-000005/            the state after 5 epochs:
            model.weights.h5     `model.save_weights` (the trainer: network, optimizer, method state)
            files/               copies of the extra `files`, as they were at that epoch's end
            state.json           the epoch, the optimizer's step count, and every file's SHA-256
        epoch-000004/            the state before it, kept as the fallback
        epoch-000006.partial/    a write in progress (or cut short), never read

    Each epoch's state is written into `epoch-N.partial/`, synced, then renamed to `epoch-N/` in one
    step, and only then are older states removed: a kill at any instant leaves the previous state
    intact. At `on_train_begin` the newest state whose files match their checksums and whose
    weights carry the step count of its `state.json` (weights and epoch of the same epoch) is
    restored, and `fit` continues at its epoch; a damaged one is reported on stderr and the one
    before it is used. Without any state (a stop before the first backup was complete) the fit
    starts at epoch 0; with only damaged ones it stops with one line saying what to do. Weights that
    match their checksum but do not load into the model are no damage: they are of another model
    (another network or number of classes), and the fit stops with one line saying so, the backup
    kept for the model it fits. A directory that
    `keras.callbacks.BackupAndRestore(double_checkpoint=True)` wrote (`latest.weights.h5`,
    `training_metadata.json` and their `.bkp` copies) is read once the same way; the next backup
    replaces it with this layout.

    Args:
        directory: where the states live.
        keep: keep the states when the fit completes (for a caller that removes them with `remove()`
            once what replaces them, e.g. the run's checkpoint, is on disk); else they are removed.
        files: paths of files beside the training whose content belongs to the state (AFR's
            re-balanced set): they are hard-linked (else copied) into every state and put back on
            restore. Replace them (`keras_lt.files.atomic_write`), never modify them in place. A
            file that is the same one as at the previous state (device, inode, size and
            modification time) keeps its checksum instead of being read again (AFR's 17 GB set at
            ImageNet-LT size: about 19 s an epoch).

    Example:
    >>> backup = Backup("runs/ce/backup", keep=True)
    >>> trainer.fit(batches, epochs=200, shuffle=False, callbacks=[EpochSeeder(batches), backup])
    >>> hub.save_pretrained(trainer.network, "runs/ce"); backup.remove()
    """

    def __init__(self, directory, keep=False, files=()):
        super().__init__()
        self.directory = directory
        self.keep = keep
        self.files = list(files)
        self._digests = {}  # (device, inode, size, mtime) of an extra file -> its SHA-256
        self._checked = {}  # epoch -> its state as checked (`_snapshot`), until this backup writes or removes

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError("Backup restores into a built model: call it on a batch before fit().")
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        epoch = self._restore()
        if epoch:
            self.model._initial_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._write(epoch + 1)

    def on_train_end(self, logs=None):
        if not self.keep:
            self.remove()

    def remove(self):
        """Deletes the directory and every state in it."""
        self._checked.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def resume_epoch(self):
        """The epoch a fit restoring this backup starts at: the newest intact state's, 0 without one.

        The states' files are read and checked once: the restore at `on_train_begin` uses that check.

        Example:
        >>> Backup("runs/ce/backup").resume_epoch()
        17
        """
        return next((s.epoch for s in self._snapshots() if s.problem is None), 0)

    def _restore(self):
        damaged = []
        for snapshot in self._snapshots():
            problem = snapshot.problem or self._load(snapshot)
            if problem is None:
                self._put_back(snapshot)
                return snapshot.epoch
            damaged.append(f"{snapshot.label}: {problem}")
            print(f"backup {self.directory}: {snapshot.label} is damaged ({problem}); skipping it.", file=sys.stderr)
        if damaged:
            raise KerasLTError(
                f"the backup in {self.directory} is damaged ({'; '.join(damaged)}); delete {self.directory} "
                "to start this stage again from its first epoch, then --resume."
            )
        return 0

    def _load(self, snapshot):
        """Loads a snapshot into the model; None, or what is wrong with it.

        Raises:
            KerasLTError: the snapshot is intact (`checksummed`) but of another model (Keras' `ValueError`).
        """
        try:  # Keras warns of each part it skips before it fails: said once, by the error
            with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings(record=True) as caught:
                weights = os.path.join(scratch, WEIGHTS_FILE)  # Keras loads only files named *.weights.h5
                _link(snapshot.weights, weights)
                self.model.load_weights(weights)
        except Exception as error:  # h5py and Keras raise many kinds for a broken file
            reason = (str(error).splitlines() or [type(error).__name__])[0].rstrip(":")
            if snapshot.checksummed and isinstance(error, ValueError):  # what Keras raises for parts that do not fit
                raise KerasLTError(
                    f"the backup in {self.directory} does not fit this model ({snapshot.label}: {reason}): it is of a "
                    "run of another network or number of classes; resume with the recipe and data that run started "
                    "with, or choose another --output."
                ) from None
            return f"its weights cannot be loaded: {reason}"
        for warning in caught:  # a load that went through: its warnings, as Keras gave them
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        iterations = self._iterations()
        if snapshot.iterations is not None and iterations != snapshot.iterations:
            return f"its weights are from optimizer step {iterations}, its state from step {snapshot.iterations}"
        return None

    def _put_back(self, snapshot):
        """Puts the snapshot's copies of the `files` back in their places."""
        for path in self.files if snapshot.files else ():
            stored = os.path.join(snapshot.files, os.path.basename(path))
            if os.path.isfile(stored):
                _link(stored, path)

    def _iterations(self):
        optimizer = self.model.optimizer
        return None if optimizer is None else int(keras.ops.convert_to_numpy(optimizer.iterations))

    def _snapshots(self):
        """The restorable states, newest first (each with its problem, None if it looks intact)."""
        names = os.listdir(self.directory) if os.path.isdir(self.directory) else []
        for epoch in sorted(_epochs(names), reverse=True):
            yield self._snapshot(epoch)
        yield from self._legacy_snapshots()

    def _snapshot(self, epoch):
        """The state of `epoch`, its files checked against their checksums once (`_read_snapshot`)."""
        if epoch not in self._checked:
            self._checked[epoch] = self._read_snapshot(epoch)
        return self._checked[epoch]

    def _read_snapshot(self, epoch):
        directory = self._state_dir(epoch)
        label = os.path.basename(directory)
        try:
            with open(os.path.join(directory, STATE_FILE)) as f:
                state = json.load(f)
            if state.get("format") != FORMAT or state.get("epoch") != epoch:
                return _Snapshot(label, epoch, None, None, None, f"{STATE_FILE} is not that of epoch {epoch}")
            for name, digest in state["files"].items():
                if _sha256(os.path.join(directory, name)) != digest:
                    return _Snapshot(label, epoch, None, None, None, f"{name} does not match its checksum")
            iterations = state["iterations"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            return _Snapshot(label, epoch, None, None, None, f"unreadable {STATE_FILE} or files: {error}")
        weights, files = (os.path.join(directory, name) for name in (WEIGHTS_FILE, FILES_DIR))
        return _Snapshot(label, epoch, weights, files, iterations, None, checksummed=True)

    def _legacy_snapshots(self):
        """The states of a `keras.callbacks.BackupAndRestore(double_checkpoint=True)` directory.

        It copies the weights, then the metadata, to `.bkp`, then writes the weights, then the
        metadata. So while the metadata equals its `.bkp` (or is unreadable) the weights may already
        be the next epoch's: the `.bkp` pair is the state then; otherwise the latest pair is.
        """
        latest, previous = (_read_metadata(self._path(LEGACY_METADATA + suffix)) for suffix in ("", ".bkp"))
        pairs = []
        if latest is not None and latest != previous:
            pairs.append((LEGACY_WEIGHTS, latest))
        if previous is not None:
            pairs.append((f"{LEGACY_WEIGHTS}.bkp", previous))
        for weights, metadata in pairs:
            path = self._path(weights)
            problem = None if os.path.isfile(path) else "missing"
            yield _Snapshot(weights, metadata["epoch"], path, None, None, problem)

    def _write(self, epoch):
        self._checked.clear()
        final = self._state_dir(epoch)
        partial = final + PARTIAL
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        self.model.save_weights(os.path.join(partial, WEIGHTS_FILE))
        kill_point("backup.weights")
        names = [WEIGHTS_FILE]
        self._previous_digests, self._digests = self._digests, {}  # the extra files of the last state only
        for path in self.files:
            if os.path.isfile(path):
                name = os.path.join(FILES_DIR, os.path.basename(path))
                _link(path, os.path.join(partial, name))
                names.append(name)
        state = {
            "format": FORMAT,
            "epoch": epoch,
            "iterations": self._iterations(),
            "files": {name: self._digest(os.path.join(partial, name), name != WEIGHTS_FILE) for name in names},
        }
        with open(os.path.join(partial, STATE_FILE), "w") as f:
            json.dump(state, f, indent=2)
        for name in [*names, STATE_FILE, *{os.path.dirname(n) for n in names}]:
            _fsync(os.path.join(partial, name))
        kill_point("backup.state")
        shutil.rmtree(final, ignore_errors=True)  # a damaged state of this epoch, restored past
        os.replace(partial, final)
        _fsync(self.directory)
        kill_point("backup.renamed")
        self._prune(epoch)
        kill_point("backup.pruned")

    def _digest(self, path, reusable):
        """The SHA-256 of `path`; an extra file's is reused from the previous state while the file is the same."""
        if not reusable:
            return _sha256(path)
        stat = os.stat(path)
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        digest = self._previous_digests.get(key) or _sha256(path)
        self._digests[key] = digest
        return digest

    def _prune(self, epoch):
        """Removes every state but `epoch`'s and the newest before it, unfinished writes, and the legacy files."""
        names = os.listdir(self.directory)
        earlier = sorted(e for e in _epochs(names) if e < epoch)
        kept = {os.path.basename(self._state_dir(e)) for e in [epoch, *earlier[-1:]]}
        for name in names:
            if name in LEGACY_FILES:
                os.remove(self._path(name))
            elif _SNAPSHOT.fullmatch(name.removesuffix(PARTIAL)) and name not in kept:
                shutil.rmtree(self._path(name), ignore_errors=True)

    def _state_dir(self, epoch):
        return self._path(f"epoch-{epoch:06d}")

    def _path(self, name):
        return os.path.join(self.directory, name)


def _epochs(names):
    """The epochs of the complete states among directory entry `names`."""
    return [int(m.group(1)) for m in map(_SNAPSHOT.fullmatch, names) if m]


def _read_metadata(path):
    """A legacy `training_metadata.json` as a dict with an int `epoch`, or None if missing or damaged."""
    try:
        with open(path) as f:
            metadata = json.load(f)
    except (OSError, ValueError):
        return None
    valid = isinstance(metadata, dict) and isinstance(metadata.get("epoch"), int) and metadata["epoch"] >= 0
    return metadata if valid else None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _link(source, target):
    """Makes `target` a hard link to (else a copy of) `source`, replacing it in one step."""
    if os.path.exists(target) and os.path.samefile(source, target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temporary = f"{target}{PARTIAL}"
    if os.path.lexists(temporary):
        os.remove(temporary)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copy2(source, temporary)
    os.replace(temporary, target)


def _fsync(path):
    """Flushes a file's or a directory's entries to the disk (a power cut then finds them too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
