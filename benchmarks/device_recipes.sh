#!/usr/bin/env bash
# Full-length zoo recipes on one GPU machine, several at once, under a wall-clock deadline.
#
#   benchmarks/device_recipes.sh DATA_DIR RUNS_DIR SECONDS RECIPE[@SCHEDULE] ...
#
# Each recipe (zoo name or JSON path; SCHEDULE "full" by default, or "short30") trains into
# RUNS_DIR/<name> (RUNS_DIR/<name>-short30 for short30) with its log in RUNS_DIR/<name>.log. A run
# the deadline cuts keeps its per-epoch backup (stage 1, or stage 2 with the finished stage 1 in
# stage1/); calling the script again with the same RUNS_DIR continues it with --resume (the
# continuation is exact, see tests/test_training.py). Two CPU threads per run: the step is launch-bound, not compute-bound.
set -u
data=$1 runs=$2 seconds=$3
shift 3
mkdir -p "$runs"
for spec in "$@"; do
  recipe=${spec%@*} schedule=full
  [[ $spec == *@* ]] && schedule=${spec##*@}
  name=$recipe
  [[ $recipe == *.json ]] && name=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['name'])" "$recipe")
  [[ $schedule == full ]] || name=$name-$schedule
  resume=()
  for interrupted in backup stage1 finetune_backup; do  # stage 1, between the stages, stage 2
    [[ -d $runs/$name/$interrupted ]] && resume=(--resume)
  done
  echo "$(date -u +%FT%TZ) start $name ${resume[*]}" >> "$runs/$name.log"
  OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1 timeout "$seconds" \
    keras-lt train --recipe "$recipe" --schedule "$schedule" --data-dir "$data" --output "$runs/$name" "${resume[@]}" \
    >> "$runs/$name.log" 2>&1 &
done
wait
