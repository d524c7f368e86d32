#!/usr/bin/env bash
# Trains every run the book loads, at preset $1 (default cpu), into results/runs/: the
# commands behind the committed cpu runs. Two runs train side by side with one thread each
# (on 2 cores, more throughput than one run with two threads): PixelCNN++ beside the Grayscale
# PixelCNN (pair "cifar"), then the CIFAR-10 pyramid beside the CelebA one (pair "pyramids"). A model's budget is
# auxpix.budgets.budget's, through torch.compile (faster steps after a compile; see
# benchmarks/README.md). An interrupted run resumes when this is
# started again; a finished run is kept (delete it to train it again), a run of an earlier
# architecture is retrained. Each run records this command and its compute in training.json.
# The runs go into $AUXPIX_RESULTS/runs/ when it is set, else results/runs/.
. "$(dirname "$0")/setup_env.sh"
preset="${1:-cpu}"
export AUXPIX_RESULTS="${AUXPIX_RESULTS:-$PWD/results}"  # the book registry's folder
results="$AUXPIX_RESULTS"
mkdir -p "$results/logs"
stream() {
    for kind_preset in "$@"; do
        echo "auxpix: training $kind_preset ($(date -u +%H:%M:%S))"
        OMP_NUM_THREADS=1 python -c "
import sys
from auxpix.book import registry
kind, preset = sys.argv[1:]
registry.trained(kind, preset, train=registry.needs_training(kind, preset), compile=True,
                 command='scripts/train_book_runs.sh $preset $pair')" ${kind_preset/:/ }
    done
}
# Pairs of runs of equal budget, one per stream: $2 names the pairs to train (default both).
pairs="${2:-cifar pyramids}"
status=0
for pair in $pairs; do
    case "$pair" in
        cifar) first=pixelcnnpp:"$preset"; second=grayscale:"$preset" ;;
        pyramids) first=pyramid:"$preset-cifar"; second=pyramid:"$preset" ;;
        *) echo "scripts/train_book_runs.sh: unknown pair '$pair' (use: cifar, pyramids)" >&2; exit 2 ;;
    esac
    stream "$first" > "$results/logs/train-$preset-${first/:/-}.log" 2>&1 &
    one=$!
    stream "$second" > "$results/logs/train-$preset-${second/:/-}.log" 2>&1 &
    two=$!
    wait "$one" || status=1
    wait "$two" || status=1
    cat "$results/logs/train-$preset-${first/:/-}.log" "$results/logs/train-$preset-${second/:/-}.log"
done
exit "$status"
