#!/usr/bin/env bash
# Prepares the campaign's call on a lent GPU machine (benchmarks/README.md, "Full recipes on a lent
# GPU machine"), in folders .git/info/exclude ignores:
#   .whl/      keras (the version installed here), optree and namex for the device's Python 3.12, and
#              keras-lt's own wheel without the zoo's weights (training reads only the recipes; the
#              call's working tree is capped at 64 MiB, and the weights alone are 20 MiB);
#   .devdata/  the shared CIFAR-10 JPEG archive;
#   .devruns/  runs.tgz: the campaign stopped, and every run it should continue exported with its
#              backup (`campaign.py export`; `campaign.py device` continues them there).
# The device trains the exported commit (HEAD) with this tree's wheel: the tree must be committed.
set -euo pipefail
cd "$(dirname "$0")/.."
git diff --quiet HEAD -- keras_lt cli zoo benchmarks pyproject.toml ||
  { echo "uncommitted changes under keras_lt/ cli/ zoo/ benchmarks/: commit them first (the GPU call trains HEAD)" >&2; exit 1; }
for dir in .whl .devdata .devruns; do
  grep -qx "/$dir/" .git/info/exclude || echo "/$dir/" >> .git/info/exclude
done
rm -rf .whl .devruns && mkdir -p .whl .devdata .devruns
keras=$(python -c "import importlib.metadata as m; print(m.version('keras'))")  # no import: keras would pick its default backend
pip download -q "keras==$keras" optree namex --no-deps --python-version 3.12 --only-binary=:all: -d .whl
pip wheel -q --no-deps --no-build-isolation . -w .whl && rm -rf build
python - .whl/keras_lt-*.whl <<'PY'
import os, sys, zipfile
wheel = sys.argv[1]
with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(wheel + ".tmp", "w", zipfile.ZIP_DEFLATED) as target:
    for item in source.infolist():
        if not item.filename.endswith(".safetensors"):
            target.writestr(item, source.read(item.filename))
os.replace(wheel + ".tmp", wheel)
PY
cp -n ../shared/data/cifar10-jpeg-q75.tar.gz .devdata/
python benchmarks/campaign.py stop || true
for _ in $(seq 60); do  # the daemon ends once its runs have written their Ctrl-C backups
  python benchmarks/campaign.py export .devruns/runs.tgz 2>/dev/null && break
  sleep 2
done
[[ -f .devruns/runs.tgz ]] || { echo "the campaign did not stop within 2 minutes: see python benchmarks/campaign.py status" >&2; exit 1; }
tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
carried=$(du -cb .whl .devdata .devruns | tail -1 | cut -f1)
echo "the call's tree: $(( (tracked + carried) / 1048576 )) MiB of 64 (tracked $(( tracked / 1048576 )), carried $(( carried / 1048576 )))"
(( tracked + carried < 64 * 1048576 )) || { echo "over the device tool's 64 MiB: carry less" >&2; exit 1; }
