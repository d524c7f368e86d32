#!/usr/bin/env bash
# One command from a fresh clone to the rendered book: sets up .venv (scripts/setup_env.sh),
# runs every notebook in place with papermill, then builds the Jupyter Book into _build/html.
# AUXPIX_PRESET=cpu|paper|smoke re-runs the notebooks at another preset (default: the
# preset each notebook was committed with). Extra arguments go to papermill (e.g. -p train True).
# Re-running leaves the committed records as they are unless a number changed (a chapter that
# reproduces its record keeps it: auxpix.book.registry.record), and chapter 05 shows its
# recorded timings unless asked to time again (-p remeasure True): so this script and
# scripts/test.sh pass in either order.
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
