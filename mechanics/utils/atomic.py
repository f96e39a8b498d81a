"""Atomic file writes: the data goes to a temporary file beside the target, which is then
renamed over it (``os.replace``), so a reader -- or a run resumed after ``kill -9`` -- sees
the old file or the new one, never half of one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(OSError):
    """An output file could not be written; the message names the path (and, for a
    missing or unwritable directory, the ancestor that is in the way)."""


def unwritable_reason(path, what: str = "file") -> str | None:
    """Why ``path`` cannot be written, naming the ancestor in the way: ``path`` is a
    directory, or its nearest existing ancestor is no writable directory (None: neither)."""
    path = Path(path)
    if path.is_dir():
        return f"{what} {path} is a directory"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        return f"cannot write {what} {path}: {parent} is not a writable directory"
    return None


def atomic_write_bytes(path, data: bytes, what: str = "file") -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename; parent directories
    are created. An ``OSError`` (a path under a file, no permission, a full disk) becomes a
    :class:`WriteError` naming the path; no temporary file is left behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        reason = unwritable_reason(path, what)
        raise WriteError(reason or f"cannot write {what} {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {what} {path}: {err.strerror or err}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str, what: str = "file") -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), what)
