#!/usr/bin/env bash
# Trains every run the book loads, at preset $1 (default cpu), into results/runs/: the
# commands behind the committed cpu runs. Two runs train side by side with one thread each
# (on 2 cores, more throughput than one run with two threads): PixelCNN++ beside the Grayscale
# PixelCNN (pair "cifar"), then the CIFAR-10 pyramid beside the CelebA one (pair "pyramids"); the
# pairs "celeba" and "cifar-pyramid" train one pyramid's levels in two streams. A model's budget is
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
    local kind_preset
    for kind_preset in "$@"; do
        echo "auxpix: training $kind_preset ($(date -u +%H:%M:%S))"
        OMP_NUM_THREADS=1 python -c "
import sys
from auxpix.book import registry
kind, preset, *retrain = sys.argv[1:]
registry.trained(kind, preset, train=bool(retrain) or registry.needs_training(kind, preset),
                 compile=True, command='scripts/train_book_runs.sh $preset $pair $parts'.strip())" ${kind_preset//:/ }
    done
}
# One run's parts in two streams (retraining.part_streams deals them by budget), then the run
# finished (recorded and moved into place) once both are done. With $parts ($3: a comma-separated
# list, for "celeba" and "cifar-pyramid" only), just those are retrained, the others kept from
# the committed run.
split() {
    kind="${1%%:*}" kind_preset="${1#*:}"
    finish="$1"
    if [ -n "$parts" ]; then
        python -c "
import sys
from auxpix.book import retraining
from auxpix.errors import AuxpixError
try:
    retraining.stage_retraining(sys.argv[1], sys.argv[2], sys.argv[3].split(','))
except AuxpixError as e:
    sys.exit(f'scripts/train_book_runs.sh: {e}')" \
            "$kind" "$kind_preset" "$parts" || return 1
        finish="$1:retrain"
    fi
    for stream in 0 1; do
        OMP_NUM_THREADS=1 python -c "
import sys
from auxpix.book import registry, retraining
kind, preset, stream, parts = sys.argv[1:]
parts = parts.split(',') if parts else None
dealt = retraining.part_streams(kind, preset, parts=parts)[int(stream)]
if parts or registry.needs_training(kind, preset):
    registry.train_parts(kind, preset, dealt, compile=True)" "$kind" "$kind_preset" "$stream" "$parts" \
            > "$results/logs/train-$preset-$kind-$kind_preset-stream$stream.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || return 1; done
    cat "$results/logs/train-$preset-$kind-$kind_preset"-stream*.log
    stream "$finish" > "$results/logs/train-$preset-$kind-$kind_preset.log" 2>&1
    cat "$results/logs/train-$preset-$kind-$kind_preset.log"
}
# Pairs of runs of equal budget, one per stream: $2 names the pairs to train (default both);
# "celeba" trains the CelebA pyramid alone, its levels in two streams, "cifar-pyramid" the CIFAR-10
# one; then $3 may name the levels to retrain (e.g. 16,32,128), the others kept from the
# committed run.
pairs="${2:-cifar pyramids}"
parts="${3:-}"
if [ -n "$parts" ] && [ "$pairs" != celeba ] && [ "$pairs" != cifar-pyramid ]; then
    echo "scripts/train_book_runs.sh: parts ($parts) are retrained for celeba or cifar-pyramid only" >&2; exit 2
fi
status=0
for pair in $pairs; do
    case "$pair" in
        cifar) first=pixelcnnpp:"$preset"; second=grayscale:"$preset" ;;
        pyramids) first=pyramid:"$preset-cifar"; second=pyramid:"$preset" ;;
        celeba) pids=(); split pyramid:"$preset" || status=1; continue ;;
        cifar-pyramid) pids=(); split pyramid:"$preset-cifar" || status=1; continue ;;
        *) echo "scripts/train_book_runs.sh: unknown pair '$pair' (use: cifar, pyramids, celeba, cifar-pyramid)" >&2; exit 2 ;;
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
