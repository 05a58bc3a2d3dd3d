"""The error types every layer raises, in one module at the bottom so that no two modules are tied together by
an exception class. Each message names the file, field or argument at fault and the expected form.

``cdlpose``'s command line turns each into a one-line message and an exit code (see :mod:`cdlpose.cli`).
"""

from __future__ import annotations

__all__ = ["ConfigError", "CheckpointError", "OutputError", "InputError", "DataError", "lacks_torchvision",
           "needs_torchvision"]


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message names the key or file."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, unreadable, foreign or not matching; the message names it."""


class OutputError(OSError):
    """A file cdlpose could not write (disk full, permission, a folder of that name); the message names the file
    and the cause. ``errno`` is the operating system's error number where there is one."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28]" prefix
        return self.strerror if self.errno is not None and self.strerror else super().__str__()


class InputError(ValueError):
    """Bad input for inference (image, box, checkpoint, detections file); the message names it."""


class DataError(ValueError):
    """Bad input data: the message names the file, the record and the field."""

    def __init__(self, source: str, record: str, field: str, problem: str) -> None:
        self.source, self.record, self.field, self.problem = source, record, field, problem
        super().__init__(f"{source}: record {record}: field '{field}': {problem}")


def lacks_torchvision(e: ImportError) -> bool:
    """Whether ``e`` says that torchvision (an optional extra) is not installed, not that something it imports is
    missing."""
    return isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == "torchvision"


def needs_torchvision(what: str) -> str:
    """The one-line message for ``what`` (a feature that needs torchvision) when torchvision is not installed: the
    install commands. On a CPU-only machine torchvision comes from the index torch came from: each torchvision
    release requires one torch release, and PyPI's beside a CPU torch of another release brings PyPI's CUDA torch."""
    return (f"{what} needs torchvision, which is not installed: in cdlpose's clone pip install \".[detector]\"; on "
            f"a CPU-only machine take it from the index torch came from: pip install torchvision --index-url "
            f"https://download.pytorch.org/whl/cpu")
