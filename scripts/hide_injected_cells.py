"""Tag papermill's injected-parameters cells "remove-cell" so the book does not show them
(the parameters cell above them says what can be set; the run's values are recorded)."""

import sys

import nbformat

for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
    nbformat.write(notebook, path)
