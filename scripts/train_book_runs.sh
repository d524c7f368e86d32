#!/usr/bin/env bash
# Trains every run the book loads, at preset $1 (default cpu), into results/runs/: the
# commands behind the committed cpu runs. Two streams run side by side with one thread each
# (on 2 cores, more throughput than one stream with two threads): the CIFAR-10 Grayscale
# PixelCNN then PixelCNN++, and the CIFAR-10 pyramid then the CelebA one. A model's budget is
# auxpix.book.registry.budget's (cpu: an hour of wall-clock time). An interrupted run resumes
# when this is started again; a finished run is kept (delete it to train it again). The runs
# go into $AUXPIX_RESULTS/runs/ when it is set, else results/runs/.
. "$(dirname "$0")/setup_env.sh"
preset="${1:-cpu}"
export AUXPIX_RESULTS="${AUXPIX_RESULTS:-$PWD/results}"  # the book registry's folder
results="$AUXPIX_RESULTS"
mkdir -p "$results/logs"
stream() {
    for kind_preset in "$@"; do
        echo "auxpix: training $kind_preset ($(date -u +%H:%M:%S))"
        OMP_NUM_THREADS=1 python -c "import sys; from auxpix.book import registry; registry.trained(*sys.argv[1:])" \
            ${kind_preset/:/ }
    done
}
stream grayscale:"$preset" pixelcnnpp:"$preset" > "$results/logs/train-$preset-cifar.log" 2>&1 &
cifar=$!
stream pyramid:"$preset-cifar" pyramid:"$preset" > "$results/logs/train-$preset-pyramids.log" 2>&1 &
pyramids=$!
status=0
wait "$cifar" || status=1
wait "$pyramids" || status=1
cat "$results/logs/train-$preset-cifar.log" "$results/logs/train-$preset-pyramids.log"
exit "$status"
