"""``python -m auxpix``: the same as the ``auxpix`` command."""

from .cli import main

raise SystemExit(main())
