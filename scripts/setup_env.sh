# Sourced by build_book.sh and test.sh: makes .venv with auxpix and everything the book and
# the tests need (once; again when pyproject.toml changes), and points AUXPIX_DATA at the data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.auxpix-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "auxpix: installing into .venv (first run: a few minutes)"
    python -m pip install --quiet --upgrade pip
    # torch first, pinned: a bare `torch` requirement can pull a multi-GB CUDA build. Set
    # AUXPIX_TORCH (e.g. to "torch") to install the build that suits your machine instead.
    python -m pip install --quiet "${AUXPIX_TORCH:-torch==2.13.0}"
    python -m pip install --quiet -e ".[book,test]"
    touch "$stamp"
fi
# Data: $AUXPIX_DATA if set, else ../shared/data when it exists (this project's machines), else data/.
if [ -z "${AUXPIX_DATA:-}" ] && [ -d ../shared/data ]; then
    AUXPIX_DATA="$(cd ../shared/data && pwd)"
fi
export AUXPIX_DATA="${AUXPIX_DATA:-$PWD/data}"
# Without this, OpenMP threads spin while waiting, and two busy processes on a small machine
# run up to 20x slower (measured: 10 smoke training steps 122 s instead of 6 s).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# glibc's allocator is up to 2.3x slower on large tensors without these (measured on CPU).
export MALLOC_MMAP_MAX_="${MALLOC_MMAP_MAX_:-0}" MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-68719476736}"
