"""Errors that mean "your input is wrong": the CLI prints them as one line, no traceback."""


class AuxpixError(Exception):
    """Bad input from the user: the message says what is wrong and how to fix it."""

    def _render_traceback_(self) -> list[str]:
        # IPython (a notebook, papermill) shows these lines instead of a traceback.
        return [one_line(self)]


class DataError(AuxpixError):
    """Missing, corrupt or malformed data."""


class ConfigError(AuxpixError):
    """Unknown model kind or preset, or an invalid configuration."""


class CheckpointError(AuxpixError):
    """A missing or corrupt checkpoint, or one of another model."""


class ArchitectureError(CheckpointError):
    """A run saved with networks that this version of auxpix builds differently: train it again."""


class RunUnavailable(CheckpointError):
    """A run the book needs is missing or no longer loads, and nobody asked to train it."""


def one_line(error: BaseException) -> str:
    """An exception as a short single line, to embed in an error message."""
    return " ".join(f"{type(error).__name__}: {error}".split())
