#!/usr/bin/env bash
# Issue 22, points 4 and 5: plain vs pooling vs EMANet vs HEMNet on a 64-px digit-scene task, with
# the bases' corrected moving average, seeds 1–3; then Table 2 (T_eval 1–8) over the HEMNet and
# EMANet checkpoints and Fig. 4 of every HEMNet and EMANet seed. About 3–6 minutes per run on 2 cores.
#   TASK=context (default): the recipe that separated the models in
#     docs/experiments/context-task.md: 660 steps of batch 4, 2–4 digits, dilation 2, 12-px fragments.
#   TASK=groups: the same recipe on the groups task (docs/experiments/groups-task.md): two classes
#     per scene tied to their fragments by colour, 3–4 digits, dilation 1, so that 87 % of the
#     fragments have their whole digit beyond the backbone's reach (±15 px).
#
# Resumable: a run whose result.json exists is skipped and one stopped part-way is resumed, so
# rerunning the script after Ctrl-C (or in a later session) continues where it stopped. MODELS and SEEDS override the defaults, e.g.
#   MODELS="plain" SEEDS="1" scripts/comparison64.sh
#   TASK=groups scripts/comparison64.sh
# Outputs: runs/ctx64/ or runs/groups64/<model>-seed<s>/ (checkpoints, not committed) and the
# tables under ${RESULTS:-docs/results/2026-12-06-swiftshader/context64 or groups64}.
set -euo pipefail
cd "$(dirname "$0")/.."
TASK=${TASK:-context}
case $TASK in
  context) OUT=runs/ctx64; TASK_FLAGS=(--task context --min-digits 2 --dilation 2) ;;
  groups) OUT=runs/groups64; TASK_FLAGS=(--task groups --min-digits 3 --dilation 1) ;;
  *) echo "TASK must be context or groups, got '$TASK'" >&2; exit 2 ;;
esac
RESULTS=${RESULTS:-docs/results/2026-12-06-swiftshader/${TASK}64}
MODELS=${MODELS:-"plain hemnet emanet pooling"}
SEEDS=${SEEDS:-"1 2 3"}
# The 2026-11-28 comparison's flags, every one given: hemgpu train's own defaults are not the demo's.
RECIPE=("${TASK_FLAGS[@]}" --size 64 --max-digits 4 --min-scale 28 --max-scale 36 --fragment 12
  --threshold 0.1 --max-overlap 0.2 --train-scenes 4800 --val-scenes 200 --bg-keep 0.3
  --width 16 --channels 48 --bases 16 --em-gamma 0 --iterations 3 --bases-average plain
  --optimizer adamw --lr 0.01 --warmup 20 --batch 4 --steps 660 --eval-every 330 --quiet)
mkdir -p "$OUT" "$RESULTS"
for seed in $SEEDS; do
  for model in $MODELS; do
    dir="$OUT/$model-seed$seed"
    if [[ -f "$dir/result.json" ]]; then echo "skip $dir (done)"; continue; fi
    if [[ -f "$dir/checkpoint.safetensors" ]]; then
      # Stopped part-way (Ctrl-C saves): continue that run with its stored config.
      echo "resume $dir"
      node bin/hemgpu.mjs train --resume "$dir/checkpoint.safetensors" --quiet | grep -v '^  per-class' || exit $?
    else
      echo "train $dir"
      # η = 0.5 for HEMNet's unit (hemnet, and pooling: the same unit with K = 1); EMANet's is 1 by definition.
      eta=(); [[ $model == hemnet || $model == pooling ]] && eta=(--eta 0.5)
      node bin/hemgpu.mjs train --model "$model" --seed "$seed" "${RECIPE[@]}" "${eta[@]}" --out "$dir" | grep -v '^  per-class' || exit $?
    fi
    cp "$dir/result.json" "$RESULTS/result-$model-seed$seed.json"
  done
done
# The tables over the seeds: every model at T_eval = T_train, and Table 2 for the EM models.
for model in $MODELS; do
  ckpts=$(for s in $SEEDS; do [[ -f "$OUT/$model-seed$s/result.json" ]] && printf '%s,' "$OUT/$model-seed$s/checkpoint.safetensors"; done)
  [[ -z "$ckpts" ]] && continue
  node bin/hemgpu.mjs eval --checkpoint "${ckpts%,}" > "$RESULTS/eval-$model.txt"
  if [[ $model == hemnet || $model == emanet ]]; then
    node bin/hemgpu.mjs eval --checkpoint "${ckpts%,}" --iterations 1-8 > "$RESULTS/table2-$model.txt"
  fi
  # Fig. 4 and segmentation samples of every HEMNet and EMANet seed.
  if [[ $model == hemnet || $model == emanet ]]; then
    node bin/hemgpu.mjs eval --checkpoint "${ckpts%,}" --figures "$RESULTS/figures" > "$RESULTS/figures-$model.txt"
  fi
done
echo "tables in $RESULTS"
