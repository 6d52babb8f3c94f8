"""localwes's miniwdl container backends: tasks on the host, and task records.

miniwdl's own backends all need a container runtime. `localwes_host`, registered
in the entry point group `miniwdl.plugin.container_backend` just by installing
localwes, runs the command in the task's own folder and process group, with
stdout/stderr in the files miniwdl expects and the task's runtime env exported.
The "container" directory is the task's host folder, so the input paths
miniwdl hands the command are real host paths: each input is linked there (or
copied, with copy_input_files).

Every backend localwes uses also records each task attempt in the run folder's
tasks/ as it starts and ends: `localwes_host` and `localwes_docker_swarm`,
`localwes_podman`, `localwes_singularity` (miniwdl's own, with recording).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from WDL.runtime import config
from WDL.runtime.backend.docker_swarm import SwarmContainer
from WDL.runtime.backend.podman import PodmanContainer
from WDL.runtime.backend.singularity import SingularityContainer
from WDL.runtime.task_container import TaskContainer

from localwes.groups import wait_then_sweep
from localwes.tasks import recorder_for_this_run

# Seconds between SIGTERM and SIGKILL when miniwdl terminates a task.
TERMINATE_GRACE_S = 10.0


class RecordingMixin(TaskContainer):
    """Records each attempt of a task as a localwes task (a retry is a new task)."""

    def _run(self, logger: logging.Logger, terminating: Callable[[], bool], command: str) -> int:
        recorder = recorder_for_this_run()
        if recorder is None:  # plain miniwdl, not started by localwes
            return int(super()._run(logger, terminating, command))  # type: ignore[safe-super]
        shell = shlex.split(self.cfg.get("task_runtime", "command_shell"))
        record = recorder.start(
            self._task_name(recorder.run_dir),
            [*shell, "-c", command],
            self.host_stdout_txt(),
            self.host_stderr_txt(),
        )
        try:
            status = int(super()._run(logger, terminating, command))  # type: ignore[safe-super]
        except BaseException as exc:
            recorder.end(record, None, f"{type(exc).__name__}: {exc}")
            raise
        recorder.end(record, status)
        return status

    def _task_name(self, run_dir: Path) -> str:
        """The call's folder under miniwdl's run folder (outputs/), as miniwdl names it:
        call-NAME-INDEX for a scatter element, with the try for a retry; a task run on
        its own by its name."""
        folder = Path(self.host_dir)
        base = run_dir / "outputs"
        name = str(folder.relative_to(base)) if folder.is_relative_to(base) else folder.name
        if name == ".":  # a run of one task, not a workflow: outputs/ is its folder
            name = self.run_id  # miniwdl names it by the task
        return name if self.try_counter == 1 else f"{name} (try {self.try_counter})"


class OnHostContainer(TaskContainer):
    """Runs task commands on the host, without a container."""

    _resource_limits: dict[str, int] | None = None

    @classmethod
    def global_init(cls, cfg: config.Loader, logger: logging.Logger) -> None:
        logger.notice("localwes host backend: tasks run on the host, without containers")  # type: ignore[attr-defined]

    @classmethod
    def detect_resource_limits(cls, cfg: config.Loader, logger: logging.Logger) -> dict[str, int]:
        if cls._resource_limits is None:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            cls._resource_limits = {"cpu": os.cpu_count() or 1, "mem_bytes": pages}
        return cls._resource_limits

    def __init__(self, cfg: config.Loader, run_id: str, host_dir: str) -> None:
        super().__init__(cfg, run_id, host_dir)
        # The command sees host paths: {container_dir}/work is the task's work folder.
        self.container_dir = self.host_dir

    def _run(self, logger: logging.Logger, terminating: Callable[[], bool], command: str) -> int:
        if "docker" in self.runtime_values:
            logger.notice(  # type: ignore[attr-defined]
                "runtime.docker ignored: localwes runs this task on the host "
                f"(image {self.runtime_values['docker']})"
            )
        self._link_inputs()
        script = os.path.join(self.host_dir, "command")
        with open(script, "w") as out:
            for name, value in self.runtime_values.get("env", {}).items():
                out.write(f"export {name}={shlex.quote(str(value))}\n")
            out.write(command)
        shell = self.cfg.get("task_runtime", "command_shell")
        with (
            open(self.host_stdout_txt(), "ab") as stdout,
            open(self.host_stderr_txt(), "ab") as stderr,
            self.poll_stderr_context(logger) as poll_stderr,
        ):
            proc = subprocess.Popen(
                [*shlex.split(shell), script],
                cwd=self.host_work_dir(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                process_group=0,
            )
            logger.notice(f"task started on the host, pid {proc.pid}")  # type: ignore[attr-defined]
            with self.task_running_context():
                status = wait_then_sweep(proc, terminating, TERMINATE_GRACE_S)
            poll_stderr()
        return status

    def _link_inputs(self) -> None:
        """Make each input visible at the path miniwdl gave the command for it."""
        for host_path, container_path in self.input_path_map.items():
            target = container_path.rstrip("/")
            if os.path.lexists(target):
                continue  # copied there (copy_input_files), or linked by an earlier try
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(host_path.rstrip("/"), target)


class HostContainer(RecordingMixin, OnHostContainer):
    """Tasks on the host, with task records: the `localwes_host` backend."""


class RecordingSwarmContainer(RecordingMixin, SwarmContainer):
    """miniwdl's docker backend, with task records."""


class RecordingPodmanContainer(RecordingMixin, PodmanContainer):
    """miniwdl's podman backend, with task records."""


class RecordingSingularityContainer(RecordingMixin, SingularityContainer):
    """miniwdl's singularity backend, with task records."""
