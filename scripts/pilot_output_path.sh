#!/usr/bin/env bash
# Does f_w(X̂)'s path into the output layer (EmbeddingConfig.to_output) cost the CIFAR-10
# pyramid bits/dim? Its 32x32 level trained for the book's budget (the registry's: the level's
# share of the cpu-cifar pyramid's minutes, the same evaluations) with the path and without, side
# by side, one thread each, the same seed, into results/pilot/pyramid-cpu-cifar-32-output-{on,off}/
# and results/logs/; chapter 03 reads them (auxpix.book.first_pixel.output_path_pilot).
#   scripts/pilot_output_path.sh
. "$(dirname "$0")/setup_env.sh"
results="${AUXPIX_RESULTS:-$PWD/results}"
mkdir -p "$results/logs" "$results/pilot"
read -r minutes every share images < <(python -c "
from auxpix.book import registry
from auxpix.budgets import budget
model = registry.preset_model('pyramid', 'cpu-cifar', ['32'])
print(budget('pyramid', 'cpu-cifar', '32', list(model.parts))['minutes'], registry.EVAL_EVERY,
      registry.EVAL_SHARE, registry.TEST_SUBSET_DURING_TRAINING)")
pids=()
for arm in on off; do
    value=$([ "$arm" = on ] && echo true || echo false)
    OMP_NUM_THREADS=1 auxpix train pyramid --preset cpu-cifar --part 32 --minutes "$minutes" \
        --set embedding.to_output="$value" --compile --eval-images "$images" --eval-every "$every" \
        --eval-share "$share" --resume --out "$results/pilot/pyramid-cpu-cifar-32-output-$arm" \
        > "$results/logs/pilot-pyramid-cpu-cifar-32-output-$arm.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 2 "$results"/logs/pilot-pyramid-cpu-cifar-32-output-*.log
exit "$status"
