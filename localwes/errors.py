"""Errors that become a WES ErrorResponse with a fitting HTTP status."""

from __future__ import annotations

import errno
import os


class CommandError(Exception):
    """A `localwes` command cannot do what was asked; the message says why and what
    to do. The command prints it on one line and exits with status 2."""


class WesError(Exception):
    """An error a client can act on; `msg` says what was wrong and what to do."""

    status_code = 500

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class BadRequest(WesError):
    status_code = 400


class Unauthorized(WesError):
    status_code = 401


class Forbidden(WesError):
    status_code = 403


class NotFound(WesError):
    status_code = 404


class PayloadTooLarge(WesError):
    status_code = 413


class RangeNotSatisfiable(WesError):
    status_code = 416


class InsufficientStorage(WesError):
    status_code = 507


def storage_error(exc: OSError, doing: str) -> WesError:
    """A filesystem failure while writing run folders, as the client should see it."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(
            f"no space left to {doing} ({exc.strerror}: {exc.filename}); free some space "
            "in the state dir and try again"
        )
    if exc.errno == errno.ENAMETOOLONG:
        # Only an attachment's name, which the client chose, can be this long.
        return BadRequest(
            f"workflow_attachment: a name is too long for the state dir's filesystem "
            f"({os.path.basename(str(exc.filename))[:80]}...); use shorter file and folder names"
        )
    return WesError(f"localwes could not {doing}: {exc.strerror or exc} ({exc.filename})")
