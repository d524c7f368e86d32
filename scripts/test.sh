#!/usr/bin/env bash
# Runs every test: the library's pytest suite and nbval over the committed notebooks.
# Extra arguments go to pytest (e.g. scripts/test.sh -x -k causality).
. "$(dirname "$0")/setup_env.sh"
exec python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout 3600 --nbval-sanitize-with notebooks/nbval_sanitize.cfg "$@"
