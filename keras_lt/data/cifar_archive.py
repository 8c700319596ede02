"""The official CIFAR python archives: `cifar-10-batches-py/`, `cifar-100-python/`, their `.tar.gz`."""

import collections
import os
import pickle
import tarfile

import numpy as np

from keras_lt.errors import DataError

_Layout = collections.namedtuple(
    "_Layout", ["folder", "tarball", "batches", "meta", "names_key", "labels_key"]
)

_LAYOUTS = {
    "cifar10": _Layout(
        folder="cifar-10-batches-py",
        tarball="cifar-10-python.tar.gz",
        batches={"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        meta="batches.meta",
        names_key=b"label_names",
        labels_key=b"labels",
    ),
    "cifar100": _Layout(
        folder="cifar-100-python",
        tarball="cifar-100-python.tar.gz",
        batches={"train": ["train"], "test": ["test"]},
        meta="meta",
        names_key=b"fine_label_names",
        labels_key=b"fine_labels",
    ),
}


def find_cifar_archive(name, data_dir):
    """The CIFAR python archive of `name` in `data_dir`: the extracted folder, else the tarball.

    Args:
        name: "cifar10" or "cifar100"; any other name has no archive.
        data_dir: the directory to look in, or None.

    Returns:
        The path of `cifar-10-batches-py/` / `cifar-100-python/` or of its `.tar.gz`, or None.

    Example:
    >>> find_cifar_archive("cifar10", "~/data")  # doctest: +SKIP
    '/home/me/data/cifar-10-batches-py'
    """
    layout = _LAYOUTS.get(name)
    if layout is None or data_dir is None:
        return None
    data_dir = os.path.expanduser(data_dir)
    folder = os.path.join(data_dir, layout.folder)
    if os.path.isdir(folder):
        return folder
    tarball = os.path.join(data_dir, layout.tarball)
    return tarball if os.path.isfile(tarball) else None


# What the official batches are made of besides dicts, lists, bytes, strings and ints: NumPy arrays
# (pickled by Python 2's NumPy, or by NumPy 2) and protocol 2's encoding of Python 3 bytes.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArchiveUnpickler(pickle.Unpickler):
    """Builds only the objects of the official layout; any other class or function is refused.

    Unpickling may call any importable function, so a crafted batch file could run code; this
    allows nothing else to be looked up (as `torch.load(weights_only=True)` does for tensors).
    """

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which the CIFAR layout never holds")
        return super().find_class(module, name)


def _unpickle(file, where):
    """One archive file's content, read with `_ArchiveUnpickler`; a DataError naming `where` if it is not one."""
    try:
        return _ArchiveUnpickler(file, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise DataError(f"cannot read {where} ({error}); is it the official CIFAR python archive?") from None


def _read_pickles(path, layout, members):
    """Unpickles `members` (file names inside the archive folder) from the folder or the tarball."""
    if os.path.isdir(path):
        pickles = {}
        for member in members:
            with open(os.path.join(path, member), "rb") as f:
                pickles[member] = _unpickle(f, f"{layout.folder}/{member} in {path}")
        return pickles
    wanted = {f"{layout.folder}/{member}": member for member in members}
    pickles = {}
    with tarfile.open(path, "r:gz") as tar:  # one sequential pass: gzip cannot seek back cheaply
        for info in tar:
            if info.name in wanted:
                pickles[wanted[info.name]] = _unpickle(tar.extractfile(info), f"{info.name} in {path}")
    missing = [m for m in members if m not in pickles]
    if missing:
        raise DataError(
            f"{path} lacks {layout.folder}/{missing[0]}; is it the official CIFAR python archive?"
        )
    return pickles


def _entry(content, key, where):
    """`content[key]` of an unpickled archive file, or a DataError naming the file (`where`)."""
    if not isinstance(content, dict) or key not in content:
        raise DataError(
            f"{where} has no {key.decode()} entry; is it the official CIFAR python archive?"
        )
    return content[key]


def load_cifar_archive(name, split, data_dir):
    """Reads a split of the official CIFAR python archive, in the archive's original order.

    `data_dir` holds `cifar-10-batches-py/` (CIFAR-10) or `cifar-100-python/` (CIFAR-100), or the
    unextracted `cifar-10-python.tar.gz` / `cifar-100-python.tar.gz`, read in place. Each pickled
    batch stores images as rows of 3072 bytes, channel-planar (1024 red, 1024 green, 1024 blue,
    each 32x32 row-major); they are returned as NHWC. CIFAR-100 labels are the fine labels.

    Args:
        name: "cifar10" or "cifar100".
        split: "train" or "test".
        data_dir: the directory holding the archive folder or tarball.

    Returns:
        `(images, labels, class_names)`: uint8 `(N, 32, 32, 3)`, int64 `(N,)`, list of str.

    Raises:
        DataError: no archive of `name` in `data_dir`, an unknown split, or a malformed batch.

    Example:
    >>> images, labels, names = load_cifar_archive("cifar10", "test", "~/data")  # doctest: +SKIP
    >>> images.shape, names[0]  # doctest: +SKIP
    ((10000, 32, 32, 3), 'airplane')
    """
    path = find_cifar_archive(name, data_dir)
    if path is None:
        layout = _LAYOUTS.get(name)
        wanted = f"{layout.folder}/ or {layout.tarball}" if layout else "cifar10 or cifar100 data"
        raise DataError(f"no CIFAR python archive for {name} in {data_dir}: expected {wanted}.")
    layout = _LAYOUTS[name]
    if split not in layout.batches:
        raise DataError(f"{name} has the splits {sorted(layout.batches)}, not '{split}'.")
    batches = layout.batches[split]
    pickles = _read_pickles(path, layout, [layout.meta] + batches)
    images, labels = [], []
    for batch in batches:
        where = f"{layout.folder}/{batch} in {path}"
        data, batch_labels = _entry(pickles[batch], b"data", where), _entry(pickles[batch], layout.labels_key, where)
        try:
            data, batch_labels = np.asarray(data, dtype=np.uint8), np.asarray(batch_labels, dtype=np.int64)
        except (ValueError, TypeError, OverflowError) as error:
            raise DataError(f"{where} holds no uint8 data and integer labels ({error}).") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or batch_labels.ndim != 1 or len(batch_labels) != len(data):
            raise DataError(
                f"{where} holds data {data.shape} and {len(batch_labels)} labels; expected "
                "(N, 3072) uint8 and N labels."
            )
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(batch_labels)
    where = f"{layout.folder}/{layout.meta} in {path}"
    names = _entry(pickles[layout.meta], layout.names_key, where)
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise DataError(f"{where}: {layout.names_key.decode()} is not a list of names.")
    class_names = [n.decode("utf-8", errors="replace") for n in names]
    labels = np.concatenate(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataError(f"{path}: labels outside 0..{len(class_names) - 1}, the classes of {where}.")
    return np.ascontiguousarray(np.concatenate(images)), labels, class_names
