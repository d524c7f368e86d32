#!/usr/bin/env bash
# The sizing pilots behind the cpu preset's networks: candidate networks trained for the same
# wall-clock budget as the committed cpu run (one thread each, two side by side, as
# scripts/train_book_runs.sh trains), scored on the same 500 test images every 100 steps, into
# results/pilot/ (or $AUXPIX_RESULTS/pilot/). Chapters 01 and 03 compare their curves with the committed runs'.
#   scripts/size_cpu_preset.sh pixelcnnpp   # CIFAR-10: nr_resnet 1 / 48 filters, 2 / 32
#   scripts/size_cpu_preset.sh pyramid      # CelebA 64x64 level: light nets 3 / 32, 2 / 48
. "$(dirname "$0")/setup_env.sh"
kind="${1:?usage: scripts/size_cpu_preset.sh pixelcnnpp|pyramid}"
case "$kind" in
    pixelcnnpp) part=pixelcnnpp; key=net; candidates=("1 48" "2 32") ;;
    pyramid) part=64; key=level_net; candidates=("3 32" "2 48") ;;
    *) echo "scripts/size_cpu_preset.sh: unknown kind $kind (pixelcnnpp or pyramid)" >&2; exit 2 ;;
esac
# The part's budget in the committed run (auxpix.budgets.budget).
minutes=$(python -c "import auxpix; from auxpix.budgets import budget
print(budget('$kind', 'cpu', '$part', list(auxpix.build('$kind', preset='cpu').parts))['minutes'])")
results="${AUXPIX_RESULTS:-results}"  # where the book's registry looks for the pilots
mkdir -p "$results/logs" "$results/pilot"
pids=()
for candidate in "${candidates[@]}"; do
    set -- $candidate
    name="$kind-cpu-$part-$1x$2"
    OMP_NUM_THREADS=1 auxpix train "$kind" --preset cpu --part "$part" --minutes "$minutes" \
        --set "$key.nr_resnet=$1" --set "$key.nr_filters=$2" --eval-images 500 --eval-every 100 \
        --resume --out "$results/pilot/$name" > "$results/logs/pilot-$name.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 1 "$results"/logs/pilot-"$kind"-*.log
exit "$status"
