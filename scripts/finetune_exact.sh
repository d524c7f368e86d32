#!/usr/bin/env bash
# The exact-pixel experiment: the book's PixelCNN++ (results/runs/pixelcnnpp-<preset>,
# trained on the JPEG-decoded CIFAR-10 training set) trained on for the same extra budget in
# two ways, side by side with one thread each: on the JPEG-decoded training set as before, and
# on the 4,000 exact-pixel training images (cifar-10-lossless-subset/data_batch_1). Both start
# from its averaged weights and take the same number of steps (a budget in steps, not minutes,
# keeps the two equal whatever else the machine runs) with the learning rate 2e-4 falling
# linearly to 5 %, so they spent equal total compute; chapter 01 scores both on the exact-pixel
# and JPEG-decoded test images.
#   scripts/finetune_exact.sh [preset] [steps]     # default: cpu, 1500 (about 15 minutes at the cpu preset)
. "$(dirname "$0")/setup_env.sh"
preset="${1:-cpu}"
steps="${2:-1500}"
results="${AUXPIX_RESULTS:-$PWD/results}"
base="$results/runs/pixelcnnpp-$preset"
[ -f "$base/run.json" ] || { echo "scripts/finetune_exact.sh: no run at $base; train it first (scripts/train_book_runs.sh $preset cifar)" >&2; exit 2; }
mkdir -p "$results/logs"
pids=()
for data in cifar10 cifar10-lossless; do
    name="pixelcnnpp-$preset-then-$data"
    OMP_NUM_THREADS=1 auxpix train pixelcnnpp --preset "$preset" --init-from "$base" --steps "$steps" \
        --set dataset="$data" --set train.lr=0.0002 --compile --eval-images 500 --eval-every 100 --resume \
        --out "$results/runs/$name" > "$results/logs/train-$name.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 2 "$results"/logs/train-pixelcnnpp-"$preset"-then-*.log
exit "$status"
