"""Progress bars for long work: drawn on a terminal, left out of log files and pipes (where
tqdm's redrawn line would pile up as thousands of carriage returns)."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(iterable=None, *, show: bool = True, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable``, drawn when ``show`` is set and stderr is a terminal."""
    return tqdm(iterable, disable=None if show else True, **kwargs)
