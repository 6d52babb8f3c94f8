"""The run state machine, apart from any I/O so it can be read and tested alone."""

from __future__ import annotations

from localwes.models import State

_NEXT: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.INITIALIZING, State.CANCELED, State.SYSTEM_ERROR}),
    State.INITIALIZING: frozenset(
        {
            State.RUNNING,
            State.CANCELING,
            State.SYSTEM_ERROR,
            State.EXECUTOR_ERROR,
            State.COMPLETE,
            State.QUEUED,
        }
    ),
    State.RUNNING: frozenset(
        {State.COMPLETE, State.EXECUTOR_ERROR, State.SYSTEM_ERROR, State.CANCELING, State.QUEUED}
    ),
    # A run being canceled ends CANCELED, or SYSTEM_ERROR when localwes cannot tell.
    State.CANCELING: frozenset({State.CANCELED, State.SYSTEM_ERROR}),
}


class IllegalTransition(Exception):
    """A state change the run's life does not allow (terminal states are sticky)."""


def check_transition(old: State, new: State) -> None:
    """Raise IllegalTransition unless a run may go from `old` to `new`."""
    if new not in _NEXT.get(old, frozenset()):
        raise IllegalTransition(f"a run cannot go from {old} to {new}")
