"""The API token: from LOCALWES_TOKEN, or a file kept 0600 (created with a random
token when missing). Never from the command line, where `ps` would show it."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from localwes.config import SettingsError

log = logging.getLogger(__name__)

TOKEN_ENV = "LOCALWES_TOKEN"


def load_token(token_file: Path) -> str:
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    try:
        return _read_private(token_file)
    except FileNotFoundError:
        return _create(token_file)


def _read_private(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("token_file_permissions path=%s mode=%o fixed=600", path, mode)
        path.chmod(0o600)
    token = path.read_text().strip()
    if not token:
        raise SettingsError(f"token_file: {path} is empty; remove it to get a new token")
    return token


def _create(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    log.info("token_created path=%s", path)
    return token
