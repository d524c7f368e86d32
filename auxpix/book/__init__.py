"""What only the book needs: the registry of its committed runs and recorded numbers
(:mod:`~auxpix.book.registry`), its tables beside the paper's numbers
(:mod:`~auxpix.book.tables`), the sentences that read them (:mod:`~auxpix.book.readings`)
and its figures (:mod:`~auxpix.book.plots`).

The library never imports this package: it needs the ``book`` extra (pandas, matplotlib),
which a plain ``pip install auxpix`` leaves out.
"""

from importlib.util import find_spec

BOOK_DEPENDENCIES = ("pandas", "matplotlib")


class BookExtraMissing(ImportError):
    """The ``book`` extra is not installed."""


_missing = [name for name in BOOK_DEPENDENCIES if find_spec(name) is None]
if _missing:
    raise BookExtraMissing(
        f"auxpix.book needs {' and '.join(_missing)}: pip install 'auxpix[book]'"
    )
