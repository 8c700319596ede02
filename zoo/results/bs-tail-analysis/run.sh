#!/usr/bin/env bash
# Balanced Softmax, full recipe against short30: is the full run's lower medium-shot accuracy a bias
# of its logits (which a post-hoc logit adjustment would move) or lost tail features?
# Diagnostic only: every tau is evaluated on the test split, none is selected or reported as a model.
#   bash zoo/results/bs-tail-analysis/run.sh ~/.cache/keras-lt/cifar10-jpeg-q75
set -eu
data=$1
here=$(dirname "$0")
for model in zoo/bs-resnet32-cifar10lt zoo/results/short30-h100/bs-resnet32-cifar10lt; do
  for tau in -0.5 -0.25 0 0.25 0.5 1; do
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE keras-lt evaluate "$model" --data-dir "$data" --format json \
      --logit-adjust "$tau" --output "$here/json/$(basename "$(dirname "$model")")-$(basename "$model")-tau$tau.json"
  done
done
