"""`one_line_interrupts`: a Ctrl-C while `keras-lt` starts ends in one line, other errors keep their report."""

import os
import subprocess
import sys

from keras_lt.interrupts import MESSAGE
from keras_lt.interrupts import one_line_interrupts

KERAS_LT = os.path.join(os.path.dirname(sys.executable), "keras-lt")


def test_a_ctrl_c_while_the_command_imports_torch_is_one_line(tmp_path):
    """A `torch` that raises KeyboardInterrupt as it is imported: where a real Ctrl-C lands at start-up."""
    (tmp_path / "torch.py").write_text("raise KeyboardInterrupt\n")
    environment = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # `list` no longer imports torch (lazy start-up): `predict` must.
    result = subprocess.run([KERAS_LT, "predict", "ce-resnet32-cifar10lt"], env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    # Before a command runs: this module's line; inside one (the lazy CLI imports torch there): Click's.
    assert result.stderr.strip() in (MESSAGE, "Aborted!") and "Traceback" not in result.stderr


def test_other_errors_keep_their_report(monkeypatch, capsys):
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda *error: reported.append(error[0]))
    one_line_interrupts()
    sys.excepthook(ValueError, ValueError("kept"), None)
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert reported == [ValueError] and capsys.readouterr().err == MESSAGE + "\n"
