#!/usr/bin/env bash
# Does f_w(X̂)'s path into the output layer (EmbeddingConfig.to_output) cost the CIFAR-10
# pyramid bits/dim? Its 32x32 level at preset $1-cifar (default cpu) trained for the book's
# budget (the registry's, in minutes at cpu: the level's share of the pyramid's minutes) and
# evaluations, with the path and without, side by side, one thread each, seed 0, into
# results/pilot/output-path-<preset>-cifar-32-{on,off}/ and results/logs/; chapter 03 reads them
# (auxpix.book.output_path_pilot).
#   scripts/pilot_output_path.sh [cpu]
. "$(dirname "$0")/setup_env.sh"
preset="${1:-cpu}"
results="${AUXPIX_RESULTS:-$PWD/results}"
mkdir -p "$results/logs" "$results/pilot"
read -r flag amount every share images < <(python -c "
import sys
from auxpix.book import registry
from auxpix.budgets import budget
from auxpix.errors import AuxpixError
preset = sys.argv[1] + '-cifar'
try:
    model = registry.preset_model('pyramid', preset, ['32'])
except AuxpixError as e:
    sys.exit(f'scripts/pilot_output_path.sh: {e}')
((unit, amount),) = budget('pyramid', preset, '32', list(model.parts)).items()
print(f'--{unit}', amount, registry.EVAL_EVERY,
      registry.EVAL_SHARE, registry.TEST_SUBSET_DURING_TRAINING)" "$preset")
[ -n "$flag" ] || exit 1
pids=()
for arm in on off; do
    value=$([ "$arm" = on ] && echo true || echo false)
    OMP_NUM_THREADS=1 auxpix train pyramid --preset "$preset-cifar" --part 32 "$flag" "$amount" \
        --set embedding.to_output="$value" --seed 0 --compile --eval-images "$images" \
        --eval-every "$every" --eval-share "$share" --resume \
        --out "$results/pilot/output-path-$preset-cifar-32-$arm" \
        > "$results/logs/pilot-output-path-$preset-cifar-32-$arm.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 2 "$results"/logs/pilot-output-path-"$preset"-cifar-32-*.log
exit "$status"
