"""Atomic checkpoints: write to a temporary file in the same folder, fsync, rename. A crash at any point leaves
either the previous checkpoint or the new one, never a truncated file; a temporary file left by a killed save is
removed by the next save. Loading uses ``weights_only=True``.

Every writer here raises :class:`OutputError` (an ``OSError`` with the errno) naming the file and the cause ("no space
left on device", "permission denied") when the write fails; readers raise :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import torch

from .errors import CheckpointError, OutputError

__all__ = ["save_checkpoint", "load_checkpoint", "write_text_atomic", "write_bytes_atomic", "OutputError",
           "CheckpointError", "describe_os_error"]


def describe_os_error(e: BaseException) -> str:
    """The cause of a failed write in words: "no space left on device", "permission denied", …"""
    if isinstance(e, OSError) and e.errno is not None:
        if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return "no space left on device"
        return (e.strerror or os.strerror(e.errno)).lower()
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _os_error_in(e: BaseException) -> OSError | None:
    """The OSError behind ``e`` (torch's writer turns a failed ``write`` into a RuntimeError whose context it is)."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _output_error(path: Path, e: BaseException) -> OutputError:
    cause = _os_error_in(e)
    if cause is None and isinstance(e, RuntimeError):
        # torch reports a short write as an enforce failure without the OS error; a full disk is its usual reason
        try:
            import shutil

            if shutil.disk_usage(path.parent).free < 1 << 20:
                cause = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            pass
    if cause is None:
        return OutputError(f"cannot write {path}: {describe_os_error(e)}")
    return OutputError(cause.errno, f"cannot write {path}: {describe_os_error(cause)}")


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of earlier saves of ``path`` that were killed before their rename."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            pass


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Save ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically. A failed write raises
    :class:`OutputError` ("no space left on device", …) and leaves the previous file as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, (OSError, RuntimeError)):
            raise _output_error(path, e) from None
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no code runs from the file). Raises ``FileNotFoundError``
    when it is missing and :class:`CheckpointError` naming the file when it is not a PyTorch file, is truncated,
    or holds objects other than plain data."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise CheckpointError(f"checkpoint {path} is not a file")
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        # never pass on torch's advice to retry with weights_only=False: that would run code from the file
        text = str(e)
        try:
            with open(path, "rb") as fh:
                head = fh.read(4)
        except OSError:
            head = b""
        if "Weights only load failed" in text or "weights_only" in text:
            why = ("it holds Python objects other than tensors and plain data, which cdlpose does not load"
                   if head.startswith(b"PK") else "not a PyTorch checkpoint file (unrecognised content)")
        elif head.startswith(b"PK"):
            why = "truncated or corrupt file (an incomplete PyTorch zip archive)"
        else:
            why = "not a PyTorch checkpoint file (unrecognised content)"
        raise CheckpointError(f"{path}: not a loadable cdlpose checkpoint ({why})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write a file through a temporary file and a rename: readers never see half a file, and a failed write
    (:class:`OutputError` naming the file and the cause) leaves no temporary file and the previous file intact.
    The temporary file is new (``mkstemp``: ``O_EXCL``, an unpredictable name in the same folder), so a symbolic
    link planted at a predictable name cannot redirect the write; a link at ``path`` itself is replaced, never
    written through."""
    write_bytes_atomic_stat(path, data)
    return Path(path)


def write_bytes_atomic_stat(path: str | Path, data: bytes) -> os.stat_result:
    """:func:`write_bytes_atomic`, returning the written file's status taken from the temporary file's own
    descriptor (size, modification time and inode survive the rename; nothing put at ``path`` afterwards is
    mistaken for it). The temporary file is removed on any failure, Ctrl-C included."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            st = os.fstat(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files (ctime only)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _output_error(path, e) from None
        raise
    return st


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))
