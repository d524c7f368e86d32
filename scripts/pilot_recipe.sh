#!/usr/bin/env bash
# The recipe pilots behind the cpu preset's training settings (issue #12): the cpu PixelCNN++
# trained for the same wall-clock budget under different recipes, two side by side with one
# thread each (as scripts/train_book_runs.sh trains), scored on the same 500 test images
# (the first of the JPEG-decoded CIFAR-10 test set) every 100 steps, into results/pilot/.
#   scripts/pilot_recipe.sh schedule    # the paper's recipe (per-step decay, batch 64) vs a linear fall
#                                       # to 5 % at the budget with batch 16, both float32
#   scripts/pilot_recipe.sh precision   # fp32 vs bf16, the paper's recipe
# AUXPIX_PILOT_MINUTES sets the budget (default 15).
. "$(dirname "$0")/setup_env.sh"
round="${1:?usage: scripts/pilot_recipe.sh schedule|precision}"
linear=(--set train.lr_schedule=linear --set train.lr_floor=0.05)
case "$round" in
    precision) names=(fp32 bf16); options=("--precision fp32" "--precision bf16") ;;
    schedule) names=(fp32-paper-b64 fp32-linear-b16)
              options=("--precision fp32" "--precision fp32 ${linear[*]} --set train.batch_size=16") ;;
    *) echo "scripts/pilot_recipe.sh: unknown round $round (schedule or precision)" >&2; exit 2 ;;
esac
minutes="${AUXPIX_PILOT_MINUTES:-15}"
mkdir -p results/logs results/pilot
pids=()
for i in "${!names[@]}"; do
    name="recipe-pixelcnnpp-cpu-${names[$i]}"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=1 auxpix train pixelcnnpp --preset cpu --minutes "$minutes" ${options[$i]} \
        --eval-images 500 --eval-every 100 --resume --out "results/pilot/$name" > "results/logs/pilot-$name.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 1 results/logs/pilot-recipe-*.log
exit "$status"
