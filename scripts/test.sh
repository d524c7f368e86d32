#!/usr/bin/env bash
# Runs every test: the library's pytest suite and nbval over the committed notebooks.
# Extra arguments go to pytest (e.g. scripts/test.sh -x -k causality).
. "$(dirname "$0")/setup_env.sh"
# nbval re-executes the notebooks, which record what they measure: they write into a copy of
# results/, so that testing never changes the committed records.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r results "$scratch/results"
export AUXPIX_RESULTS="${AUXPIX_RESULTS:-$scratch/results}"
# Style first: ruff formats and lints the code and the notebooks (pyproject.toml configures it).
ruff format --check .
ruff check .
python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout 3600 --nbval-sanitize-with notebooks/nbval_sanitize.cfg "$@"
