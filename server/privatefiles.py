"""The server's files about people are its owner's alone (docs/privacy.md): the data
folder and a backup hold every message, account and hash, and on a shared machine (a
school's lab) the usual umask, 022, would let every other user of the machine read them.

- :func:`make_private_folder` creates a folder (and its missing parents) that only its
  owner may enter, whatever the umask; a folder that exists is left as it is.
- :func:`open_to_others` says whether an existing folder lets other users in (its mode),
  so that the server can say so: an operator's own folder is theirs to set, not ours to
  change behind their back.
- :func:`create_private_file` creates an empty file only its owner may read.

On Windows the mode bits do not describe who may read a file (its ACLs do): nothing is
checked there, and folders get the system's defaults.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` (parents too) unless it exists; a folder created here is mode
    0700 (``mkdir``'s mode is cut by the umask, which never adds bits, so 0700 stays 0700
    or less)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)


def open_to_others(folder: Path) -> int | None:
    """The mode of ``folder`` when users other than its owner may enter or read it (group
    or others have any bit), else None (None on Windows, and for a folder that is gone)."""
    if os.name == "nt":
        return None
    try:
        mode = stat.S_IMODE(folder.stat().st_mode)
    except OSError:
        return None
    return mode if mode & OTHERS else None


def create_private_file(path: Path) -> None:
    """Create ``path`` empty, mode 0600, replacing nothing (FileExistsError if it exists):
    what is then written into it (SQLite's own journals too, which take the mode of
    their database) is its owner's alone."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
