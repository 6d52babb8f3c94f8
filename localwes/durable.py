"""Durable file writes: a reader sees the old file or the new one, never a torn one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file_synced(path: Path, data: bytes, flags: int = os.O_EXCL) -> None:
    """Create `path` with `data` and fsync it, in as few system calls as Python allows
    (no buffered file object: that adds an ioctl, an lseek and an fstat per file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_durably(path: Path, data: bytes) -> None:
    """Write temp file + fsync + rename + fsync of the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_new_file_synced(tmp, data, os.O_TRUNC)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_durably(path: Path, obj: Any) -> None:
    write_bytes_durably(path, json.dumps(obj, indent=2).encode() + b"\n")


def read_json(path: Path) -> Any:
    with path.open("rb") as f:
        return json.load(f)


def fsync_tree(root: Path) -> None:
    """fsync every file and folder below `root` (a new run folder before it is published)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))
