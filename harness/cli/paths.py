"""Checks on the files a command will write, made before any long work."""

from __future__ import annotations

import errno
from pathlib import Path


def ensure_writable(path: Path, *, prefix: bool = False) -> None:
    """Fail now, not after a long run, when `path` cannot be written.

    Creates the parent folder like the writers do. `prefix` is for options
    that name a file prefix (`--csv PREFIX`), where only the folder matters.

    Raises:
        OSError: the folder cannot be created, or the path is a folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not prefix and path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
