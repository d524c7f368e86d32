#!/usr/bin/env bash
# The fidelity pilot behind the cpu presets' start and weight average: one arm of
# scripts/pilot_fidelity.py (today's cpu recipe, openai's start "init", bf16, ...) trained
# with seeds 0 and 1 side by side, one thread each, for STEPS steps, into results/pilot/ and
# results/logs/. Chapter 01's sizing section reads results/pilot/fidelity-*/pilot.json.
#   scripts/pilot_fidelity.sh pixelcnnpp|level16 ARM STEPS
. "$(dirname "$0")/setup_env.sh"
model="${1:?usage: scripts/pilot_fidelity.sh MODEL ARM STEPS}" arm="${2:?}" steps="${3:?}"
mkdir -p results/logs results/pilot
pids=()
for seed in 0 1; do
    OMP_NUM_THREADS=1 python scripts/pilot_fidelity.py "$model" "$arm" --steps "$steps" --seed "$seed" \
        > "results/logs/pilot-fidelity-$model-$arm-s$seed.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -qn 1 results/logs/pilot-fidelity-"$model-$arm"-s*.log
exit "$status"
