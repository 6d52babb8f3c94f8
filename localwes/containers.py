"""Which container runtime workflows use: docker, podman, singularity, or none.

`auto` picks the first runtime that actually works (a docker client with no
engine behind it does not count), else none.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from localwes.errors import CommandError

log = logging.getLogger(__name__)

RUNTIMES = ("docker", "podman", "singularity")
CHOICES = ("auto", *RUNTIMES, "none")

# A command per runtime that only succeeds when the runtime can run containers.
_PROBES: dict[str, list[list[str]]] = {
    "docker": [["docker", "info", "--format", "{{.ServerVersion}}"]],
    "podman": [["podman", "info", "--format", "{{.Version.Version}}"]],
    "singularity": [["singularity", "--version"], ["apptainer", "--version"]],
}


class ContainerRuntimeError(CommandError):
    """A forced container runtime does not work on this machine."""


def runtime_works(runtime: str, timeout: float = 10.0) -> bool:
    for argv in _PROBES[runtime]:
        if shutil.which(argv[0]) is None:
            continue
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return True
    return False


def choose_runtime(setting: str) -> str:
    """Resolve the `container` setting to the runtime workflows will use."""
    if setting == "none":
        return "none"
    if setting != "auto":
        if not runtime_works(setting):
            raise ContainerRuntimeError(
                f"container runtime {setting!r} was requested but does not work here; "
                "check that it is installed and running, or use --container auto/none"
            )
        return setting
    for runtime in RUNTIMES:
        if runtime_works(runtime):
            return runtime
    log.info("container_runtime_none reason=no-working-runtime tried=%s", ",".join(RUNTIMES))
    return "none"
