"""One policy for every folder cdlpose writes into.

1. **Claim**: a run takes the folder's lock (``.cdlpose.lock``, created with ``O_CREAT | O_EXCL``); a second run
   into the same folder while the first is alive is refused with a message naming the first (its pid and command),
   instead of racing it. A lock left by a killed run (its process is gone) is taken over.
2. **Never replace what cdlpose did not write**: every file cdlpose writes is recorded in the folder's ledger
   (``.cdlpose-files.json``) with what it is on disk — size, modification time (ns) and inode, and optionally what
   it was written for (``source``: ``predict`` records the input). A file may be replaced only when it is on disk
   now exactly as cdlpose left it (and, where asked, for the same source); a file someone else made, changed or put
   there under a name cdlpose once used (and a symbolic link, always) is refused unless the user asks
   (``--overwrite``).
3. **Temporary files that cannot be redirected**: written under unpredictable names created with ``O_EXCL``
   (``mkstemp``) in the target folder and renamed over the final name; a symbolic link planted at any name is
   never followed, only replaced or refused.
4. **Complete marker**: a multi-file output is complete when ``.cdlpose-complete.json`` is there; it is removed
   before the first file of a run is written and written after the last.

Every write failure raises :class:`~cdlpose.errors.OutputError` naming the file and the cause.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import time
from pathlib import Path

from .checkpoint import _output_error, write_bytes_atomic_stat
from .errors import OutputError

__all__ = ["OutputFolder", "FolderBusy", "LOCK", "LEDGER", "COMPLETE", "write_bytes_exclusive_tmp", "read_ledger",
           "on_disk_as_recorded"]

LOCK = ".cdlpose.lock"
LEDGER = ".cdlpose-files.json"
COMPLETE = ".cdlpose-complete.json"
_OWN = (LOCK, LEDGER, COMPLETE)


class FolderBusy(OutputError):
    """Another live cdlpose run holds the folder."""


def write_bytes_exclusive_tmp(path: Path, data: bytes) -> os.stat_result:
    """Write ``path`` through a new temporary file under an unpredictable name (``mkstemp``) renamed over it — a
    link is replaced, never written through; returns the written file's status
    (:func:`~cdlpose.checkpoint.write_bytes_atomic_stat`)."""
    return write_bytes_atomic_stat(path, data)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def _signature(st: os.stat_result, source: str | None = None) -> list:
    sig = [st.st_size, st.st_mtime_ns, st.st_ino]
    return sig if source is None else sig + [str(source)]


def read_ledger(folder: Path) -> dict:
    """``{name: entry}`` of the ledger in ``folder`` (entry: size, modification time ns, inode[, source]); empty
    when there is none, it is damaged, or a link stands at its name (a planted link is not cdlpose's record)."""
    p = Path(folder) / LEDGER
    try:
        if stat.S_ISLNK(os.lstat(p).st_mode):
            return {}
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}  # none, or damaged: nothing is trusted as cdlpose's
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): v for k, v in files.items() if isinstance(v, list)} if isinstance(files, dict) else {}


def on_disk_as_recorded(path: Path, entry, source: str | None = None) -> bool:
    """Whether the file at ``path`` is a regular file (no link) exactly as the ledger ``entry`` records it (and,
    given ``source``, recorded for that source)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not (stat.S_ISREG(st.st_mode) and isinstance(entry, list) and entry[:3] == _signature(st)):
        return False
    return source is None or entry[3:4] == [str(source)]


def _create_complete(lock: Path, text: bytes) -> None:
    """Create ``lock`` holding ``text``, or raise :class:`FileExistsError` when something (a link too) is there.
    The text is written into a new temporary file first and hard-linked into place, so that another run never
    reads a lock half-written (and takes it for a dead run's); where the file system has no hard links, the lock
    is created with ``O_EXCL | O_NOFOLLOW`` and then written."""
    fd, tmp = tempfile.mkstemp(prefix=f"{lock.name}.", suffix=".tmp", dir=lock.parent)
    try:
        try:
            _write_all(fd, text)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, lock, follow_symlinks=False)
            return
        except FileExistsError:
            raise
        except (OSError, NotImplementedError):
            pass  # no hard links here
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        _write_all(fd, text)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class OutputFolder:
    """A folder claimed by one cdlpose run (use as a context manager, or call :meth:`release`).

    ``command`` names the run in the lock and in messages (``"predict"``, ``"synth"``, …)."""

    def __init__(self, path: str | Path, command: str, *, pid: int | None = None, host: str | None = None):
        self.path = Path(path)
        self.command = command
        self.pid = os.getpid() if pid is None else pid
        self.host = socket.gethostname() if host is None else host
        self._locked = False
        self._dirty = False  # ledger entries not yet saved
        self._next_save = 0.0  # save(due_only=True): not before this time (time.monotonic)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _output_error(self.path, e) from None
        if not self.path.is_dir():
            raise OutputError(f"{self.path} is not a folder")
        self._claim()
        self.ledger = self._read_ledger()

    # --- the lock -------------------------------------------------------------------------------------------
    def _claim(self) -> None:
        lock = self.path / LOCK
        text = json.dumps({"pid": self.pid, "host": self.host, "command": self.command}).encode()
        for _ in range(3):
            try:
                _create_complete(lock, text)
            except FileExistsError:
                holder = self._holder(lock)
                if holder is not None:
                    raise FolderBusy(f"{self.path} is in use by another cdlpose run ({holder}); wait for it to "
                                     f"finish or choose another output folder (a lock left by a crashed run on "
                                     f"another machine: delete {lock})") from None
                try:  # the holder is gone: take the lock over
                    os.unlink(lock)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise _output_error(lock, e) from None
                continue
            except OSError as e:
                raise _output_error(lock, e) from None
            self._locked = True
            return
        raise FolderBusy(f"{self.path}: cannot take the folder's lock {lock} (another run keeps taking it)")

    def _holder(self, lock: Path) -> str | None:
        """Who holds the lock, in words, or ``None`` when the holder is gone (or the lock is not a lock)."""
        try:
            if stat.S_ISLNK(os.lstat(lock).st_mode):
                return None  # not ours: a symbolic link is removed and replaced by a real lock
            info = json.loads(lock.read_text())
            pid, host = int(info["pid"]), str(info.get("host", ""))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # half-written by a killed run
        if host == self.host and not _pid_alive(pid):
            return None
        if host == self.host and pid == self.pid:
            return f"this process, pid {pid}, already writes there ({info.get('command')})"
        return f"cdlpose {info.get('command', '?')}, pid {pid} on {host or '?'}"

    def save(self, due_only: bool = False) -> None:
        """Write the ledger (after writes with ``save=False``, or changes to :attr:`ledger`). ``due_only``: only
        when writes left entries unsaved and a second (or ten times the last save's duration, for a large ledger)
        has passed since the last save, so that a long run of many files keeps its record current at a bounded
        cost; a run killed outright loses at most that much of its record (those files are then not cdlpose's:
        refused, never wrongly replaced)."""
        if due_only and (not self._dirty or time.monotonic() < self._next_save):
            return
        self._save_ledger()

    @property
    def unsaved(self) -> bool:
        """Whether writes with ``save=False`` (or :meth:`start`) changed the ledger since it was last saved."""
        return self._dirty

    def release(self) -> None:
        if self._locked:
            self._locked = False
            try:
                os.unlink(self.path / LOCK)
            except OSError:
                pass

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # --- the ledger -----------------------------------------------------------------------------------------
    def _read_ledger(self) -> dict:
        return read_ledger(self.path)

    def _save_ledger(self) -> None:
        t0 = time.monotonic()
        text = json.dumps({"schema": "cdlpose-files/1", "files": self.ledger}, indent=0)
        write_bytes_exclusive_tmp(self.path / LEDGER, text.encode())
        self._dirty = False
        now = time.monotonic()
        self._next_save = now + max(1.0, 10 * (now - t0))

    def ours(self, name: str, source: str | None = None) -> bool:
        """Whether the file ``name`` (relative to the folder) is on disk exactly as cdlpose wrote it (and, given
        ``source``, written for that source)."""
        return on_disk_as_recorded(self.path / name, self.ledger.get(name), source)

    def source(self, name: str) -> str | None:
        """What the ledger says ``name`` was written for (``None``: nothing recorded)."""
        entry = self.ledger.get(name)
        return str(entry[3]) if isinstance(entry, list) and len(entry) > 3 else None

    def foreign(self, names, source: str | None = None) -> list[Path]:
        """Those of ``names`` that exist (a link counts, even a dangling one) and are not cdlpose's (given
        ``source``: not cdlpose's for that source)."""
        out = []
        for n in names:
            p = self.path / n
            if (p.exists() or p.is_symlink()) and not self.ours(n, source):
                out.append(p)
        return out

    def refuse_foreign(self, names, overwrite: bool, what: str = "--out") -> None:
        """Raise :class:`OutputError` listing the files of ``names`` that would replace files cdlpose did not
        write (unless ``overwrite``)."""
        if overwrite:
            return
        bad = self.foreign(names)
        if bad:
            shown = ", ".join(str(b) for b in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            raise OutputError(f"{what} {self.path}: {len(bad)} file{'s' if len(bad) > 1 else ''} there would be "
                              f"replaced that cdlpose did not write: {shown}; choose another folder, or give "
                              "--overwrite to replace them")

    def write_bytes(self, name: str, data: bytes, save: bool = True, source: str | None = None) -> Path:
        """Write ``name`` atomically and record it as cdlpose's (``source``: what it was written for, see
        :meth:`ours`; ``save=False``: the record is kept in memory until the next saved write or :meth:`save`;
        many small files are written without rewriting the ledger each time)."""
        target = self.path / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _output_error(target, e) from None
        st = write_bytes_exclusive_tmp(target, data)
        self.ledger[name] = _signature(st, source)
        self._dirty = True
        if save:
            self._save_ledger()
        return target

    def write_text(self, name: str, text: str, save: bool = True, source: str | None = None) -> Path:
        return self.write_bytes(name, text.encode("utf-8"), save, source)

    def record(self, name: str, source: str | None = None, st: os.stat_result | None = None,
               save: bool = True) -> None:
        """Record a file a writer of its own (torch, FFmpeg) put at ``name`` as cdlpose's (``st``: its status,
        taken before it was renamed into place, so that nothing put at ``name`` since is mistaken for it)."""
        st = os.lstat(self.path / name) if st is None else st
        self.ledger[name] = _signature(st, source)
        self._dirty = True
        if save:
            self._save_ledger()

    def remove_own(self, name: str) -> bool:
        """Delete ``name`` if it is cdlpose's as written; True when it was removed."""
        if not self.ours(name):
            return False
        try:
            os.unlink(self.path / name)
        except OSError:
            return False
        self.ledger.pop(name, None)
        self._save_ledger()
        return True

    # --- completeness ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Mark the folder's output incomplete (before the first write of a run)."""
        try:
            os.unlink(self.path / COMPLETE)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise _output_error(self.path / COMPLETE, e) from None
        if self.ledger.pop(COMPLETE, None) is not None:
            self._dirty = True

    def finish(self, summary: dict) -> None:
        """Mark the folder's output complete (after the last write)."""
        self.write_text(COMPLETE, json.dumps({"command": self.command, **summary}))

    def complete(self) -> bool:
        return self.ours(COMPLETE)
