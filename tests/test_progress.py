"""Progress bars are drawn on a terminal only: a log file gets no carriage-return clutter."""

import io

from auxpix.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_is_drawn_on_a_terminal_only():
    terminal, log = Terminal(), io.StringIO()
    assert list(progress_bar(range(3), file=terminal, desc="work")) == [0, 1, 2]
    assert "work" in terminal.getvalue()
    assert list(progress_bar(range(3), file=log, desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""


def test_bar_can_be_turned_off_on_a_terminal():
    terminal = Terminal()
    list(progress_bar(range(3), file=terminal, show=False))
    assert terminal.getvalue() == ""
