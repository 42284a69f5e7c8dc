"""Files only their owner may read: users, chat history, secrets, feedback exports.

Python and SQLite create files with the process umask (usually 0644: readable
by every account on the machine). Anything that holds a password hash, a
session secret or what staff asked is created 0600 instead, and an existing one
is narrowed to 0600 when the chat opens it. The data folder loses its
permissions for "others" (the group keeps its own: the audit log is meant for
the quality system's group, see rag/audit.py).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
# Permission bits of "others" (neither owner nor group).
_OTHERS = stat.S_IRWXO


def create_private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner can read or write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CREAT with the mode applies it atomically to a new file (no window in
    # which it is world-readable); chmod narrows an older file.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    if path.is_file():  # not a device such as /dev/stdout
        os.chmod(path, PRIVATE_FILE_MODE)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the file is 0600 throughout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600; os.replace swaps it in whole, so a reader
    # never sees half a users file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_private_for_writing(path: Path, newline: str | None = None):  # type: ignore[no-untyped-def]
    """A text file opened for writing (truncated) that only its owner can read."""
    create_private_file(path)
    return path.open("w", encoding="utf-8", newline=newline)


def close_folder_to_others(path: Path) -> bool:
    """Create ``path`` if needed and take away every permission of "others".

    False when that is not possible (a folder owned by another account): the
    caller warns; `scripts/security_check.py` reports it too.
    """
    path.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _OTHERS:
        try:
            os.chmod(path, mode & ~_OTHERS)
        except PermissionError:
            return False
    return True


def readable_by_others(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & _OTHERS)
