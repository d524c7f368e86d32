#!/usr/bin/env bash
# The paper's models at the `paper` presets (section 4's architectures and optimizer), one
# command per model, trained with torchrun on the GPUs of this machine. Resumable: run the
# same command again after any stop. Runs go to runs/paper/<model>/ (AUXPIX_RUNS changes that).
#
#   scripts/reproduce_paper.sh grayscale 8       # p(X̂), then p(X | X̂)
#   scripts/reproduce_paper.sh pixelcnnpp 8      # the PixelCNN++ baseline
#   scripts/reproduce_paper.sh pyramid 8         # CelebA 8 -> 128, every level
#   scripts/reproduce_paper.sh pyramid-cifar 8   # CIFAR-10 8 -> 32, every level
#
# Each trains for the paper's epochs, read from auxpix.budgets.PAPER_EPOCHS (section 4).
#
# The global batch is the preset's (64, or 16 for the pyramid), split over the processes, so
# results do not depend on the number of GPUs (it must divide the batch). Several machines:
# set AUXPIX_TORCHRUN to torchrun's options for them, e.g.
#   AUXPIX_TORCHRUN="--nnodes=2 --node-rank=0 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400" \
#       scripts/reproduce_paper.sh grayscale 8   (and --node-rank=1 on the second machine)
# Then score a run with `auxpix eval runs/paper/<model> --json` (add --dataset cifar10-lossless
# for exact CIFAR-10 pixels). Expected speed and hours per model on a GPU: not measured yet (no
# GPU was lent to this project so far); `auxpix bench <kind> --preset paper` measures them.
. "$(dirname "$0")/setup_env.sh"
model="${1:?usage: scripts/reproduce_paper.sh grayscale|pixelcnnpp|pyramid|pyramid-cifar [GPUS]}"
gpus="${2:-1}"
runs="${AUXPIX_RUNS:-runs/paper}"
# shellcheck disable=SC2086
launch=(torchrun ${AUXPIX_TORCHRUN:---standalone} --nproc_per_node="$gpus" -m auxpix train)
epochs() {  # the paper's epochs of a model (and part): auxpix.config is their one source
    python -c "import sys; from auxpix.budgets import paper_epochs; print(paper_epochs(*sys.argv[1:]))" "$@"
}
case "$model" in
    grayscale)
        "${launch[@]}" grayscale --preset paper --part aux --epochs "$(epochs grayscale aux)" --resume --out "$runs/grayscale"
        "${launch[@]}" grayscale --preset paper --part cond --epochs "$(epochs grayscale cond)" --resume --out "$runs/grayscale" ;;
    pixelcnnpp)
        "${launch[@]}" pixelcnnpp --preset paper --epochs "$(epochs pixelcnnpp)" --resume --out "$runs/pixelcnnpp" ;;
    pyramid)
        "${launch[@]}" pyramid --preset paper --epochs "$(epochs pyramid)" --resume --out "$runs/pyramid" ;;
    pyramid-cifar)
        "${launch[@]}" pyramid --preset paper-cifar --epochs "$(epochs pyramid)" --resume --out "$runs/pyramid-cifar" ;;
    *) echo "scripts/reproduce_paper.sh: unknown model $model" >&2; exit 2 ;;
esac
