#!/usr/bin/env bash
# The pilot of the pyramid's conditional levels: does a level that sees the
# half-resolution image beat the unconditional PixelCNN++, and if not, why? The CIFAR-10
# pyramid's 32x32 level (given the 16x16 image) trained for as many steps of the same recipe
# as the cpu PixelCNN++'s recipe pilot took (scripts/pilot_recipe.sh schedule: 3.510 test
# bits/dim after 1,604 steps, 15 minutes), one thread each, side by side, with
#   light  the cpu preset's level net (the paper's light net: 2 blocks of 3x3 kernels, one resolution)
#   full   the cpu PixelCNN++'s own network (3 resolutions, up and down pass) as the level net,
# then scores each on the same 500 test images given its own 16x16 image, another image's and
# a flat one (auxpix eval --part 32 --aux-ablation), into results/pilot/ and results/logs/.
# A budget in steps (AUXPIX_PILOT_STEPS, default 1600) compares what each learns from the same
# images, whatever else the machine runs.
#   scripts/pilot_pyramid_level.sh [light] [full]    # default: both
. "$(dirname "$0")/setup_env.sh"
steps="${AUXPIX_PILOT_STEPS:-1600}"
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(light full)
results="${AUXPIX_RESULTS:-$PWD/results}"
mkdir -p "$results/logs" "$results/pilot"
declare -A options=(
    [light]=""
    [full]="--set level_net.light=false --set level_net.nr_resolutions=3 --set level_net.nr_resnet=1"
)
pids=()
for name in "${variants[@]}"; do
    [ -n "${options[$name]+set}" ] || { echo "scripts/pilot_pyramid_level.sh: unknown variant $name (light, full)" >&2; exit 2; }
    out="$results/pilot/pyramid-cpu-cifar-32-$name"
    # embedding.to_output=false: the pilot ran before f_w fed the levels' output layer
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=1 auxpix train pyramid --preset cpu-cifar --part 32 --steps "$steps" ${options[$name]} \
        --set embedding.to_output=false \
        --compile --eval-images 500 --eval-every 100 --resume --out "$out" > "$results/logs/pilot-pyramid-cpu-cifar-32-$name.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for name in "${variants[@]}"; do
    out="$results/pilot/pyramid-cpu-cifar-32-$name"
    OMP_NUM_THREADS=1 auxpix eval "$out" --part 32 --limit 500 --aux-ablation --json > "$out/aux_ablation.json" || status=1
    echo "$name: $(cat "$out/aux_ablation.json")"
done
exit "$status"
