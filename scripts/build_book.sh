#!/usr/bin/env bash
# One command from a fresh clone to the rendered book: sets up .venv (scripts/setup_env.sh),
# runs every notebook in place with papermill, then builds the Jupyter Book into _build/html.
# AUXPIX_PRESET=cpu|paper|smoke re-runs the notebooks at another preset (default: the
# preset each notebook was committed with). Extra arguments go to papermill (e.g. -p train True).
. "$(dirname "$0")/setup_env.sh"
# The status page reads what the others record, so it runs last.
for notebook in notebooks/0[1-9]_*.ipynb notebooks/00_status.ipynb; do
    echo "auxpix: running $notebook"
    papermill "$notebook" "$notebook" --kernel python3 --cwd notebooks \
        ${AUXPIX_PRESET:+-p preset "$AUXPIX_PRESET"} "$@"
done
python scripts/hide_injected_cells.py notebooks/*.ipynb
jupyter-book build . -W -n --keep-going
echo "auxpix: the book is at _build/html/index.html"
