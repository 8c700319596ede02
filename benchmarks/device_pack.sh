#!/usr/bin/env bash
# Packs a device call's RUNS_DIR for the trip back into OUT_DIR, within the device tool's limits
# (files of at most 16 MiB, 64 MiB in all): each run keeps only its newest backup (complete: a
# backup is written as epoch-N.partial and renamed), and the archive is split into 15 MiB parts,
# runs.tgz.part00, part01, ... which `python benchmarks/campaign.py import PART...` takes back.
# RUNS_DIR/device.json records the device's torch version and GPU for the runs' cards.
#
#   benchmarks/device_pack.sh RUNS_DIR OUT_DIR
set -euo pipefail
runs=$1 out=$2
python3 -c "import json, torch; print(json.dumps({'torch': torch.__version__, 'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))" > "$runs/device.json"
shopt -s nullglob  # a run stopped before its first epoch has an empty backup folder
for backups in "$runs"/*/backup "$runs"/*/finetune_backup; do
  rm -rf "$backups"/*.partial
  snapshots=("$backups"/epoch-*)  # sorted: epoch-000009 < epoch-000010
  if (( ${#snapshots[@]} > 1 )); then
    rm -rf "${snapshots[@]:0:${#snapshots[@]}-1}"
  fi
done
archive=$(mktemp --suffix .tgz)
tar czf "$archive" -C "$(dirname "$runs")" "$(basename "$runs")"
split -b 15m -d "$archive" "$out/runs.tgz.part"
rm "$archive"
ls -l "$out"
