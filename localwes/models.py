"""The WES vocabulary as plain data: states, run requests, run records."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """A run's state, exactly as the WES 1.1 `State` enum names it."""

    UNKNOWN = "UNKNOWN"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    CANCELING = "CANCELING"
    PREEMPTED = "PREEMPTED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        """A supervisor may be running for a run in this state."""
        return self in (State.INITIALIZING, State.RUNNING, State.CANCELING)


TERMINAL_STATES = frozenset(
    {State.COMPLETE, State.EXECUTOR_ERROR, State.SYSTEM_ERROR, State.CANCELED, State.PREEMPTED}
)

# The spec's time format: ISO 8601 in UTC, whole seconds.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> str:
    """The current time in the spec's format."""
    return dt.datetime.now(dt.UTC).strftime(TIME_FORMAT)


@dataclass(frozen=True)
class RunRequest:
    """An accepted WES RunRequest, with its JSON fields already parsed."""

    workflow_type: str
    workflow_type_version: str
    workflow_url: str
    workflow_params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    workflow_engine: str | None = None
    workflow_engine_version: str | None = None
    workflow_engine_parameters: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRequest:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunRecord:
    """What state.json holds: the daemon's view of one run."""

    state: State
    submitted_time: str
    start_time: str | None = None
    end_time: str | None = None
    exit_code: int | None = None
    system_logs: list[str] = field(default_factory=list)
    # Fencing token: bumped whenever a supervisor is (re)started for this run. A
    # supervisor whose attempt is no longer current refuses to start the engine.
    attempt: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            state=State(data["state"]),
            submitted_time=str(data.get("submitted_time", "")),
            start_time=data.get("start_time"),
            end_time=data.get("end_time"),
            exit_code=data.get("exit_code"),
            system_logs=list(data.get("system_logs") or []),
            attempt=int(data.get("attempt", 0)),
        )


@dataclass(frozen=True)
class RunSummary:
    """One row of ListRuns, kept in memory for every run."""

    run_id: str
    state: State
    start_time: str | None
    end_time: str | None
    tags: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run_id": self.run_id, "state": str(self.state), "tags": self.tags}
        if self.start_time:
            data["start_time"] = self.start_time
        if self.end_time:
            data["end_time"] = self.end_time
        return data
