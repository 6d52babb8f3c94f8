"""A miniwdl container backend that runs each task command directly on the host.

miniwdl's own backends all need a container runtime. This one, registered as
`localwes_host` in the entry point group `miniwdl.plugin.container_backend`
just by installing localwes, runs the command in the task's own folder and
process group, with stdout/stderr in the files miniwdl expects and the task's
runtime env exported. The "container" directory is the task's host folder, so
the input paths miniwdl hands the command are real host paths: each input is
linked there (or copied, with copy_input_files).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable

from WDL.runtime import config
from WDL.runtime.task_container import TaskContainer

from localwes.groups import wait_then_sweep

# Seconds between SIGTERM and SIGKILL when miniwdl terminates a task.
TERMINATE_GRACE_S = 10.0


class HostContainer(TaskContainer):
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
