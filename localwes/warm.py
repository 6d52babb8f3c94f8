"""Engines started warm: forked from a process that has already imported them.

Starting cwltool or miniwdl costs most of a second in imports and schema
loading, more than a trivial workflow takes to run. A supervisor forked from the
zygote (localwes.zygote) starts its engine by forking too, and runs the engine's
`python -m MODULE` in the child with `runpy`: same argv, same process group,
streams and environment as a cold start, without paying the start-up again.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

# Modules a warm engine may run, and what to import ahead for them.
WARM_MODULES = ("localwes.engines.cwltool_runner", "WDL")


def warm_module(argv: Sequence[str]) -> str | None:
    """The module of a `python -m MODULE ...` argv that can be run warm."""
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2] if argv[2] in WARM_MODULES else None
    return None


def preload() -> None:
    """Import the engines and load cwltool's CWL schemas, once, before any fork."""
    import cwltool.command_line_tool
    import cwltool.job
    import cwltool.main
    import cwltool.process
    import WDL.CLI
    import WDL.runtime

    import localwes.engines.cwltool_runner
    import localwes.engines.miniwdl_host

    for version in ("v1.0", "v1.1", "v1.2"):
        cwltool.process.get_schema(version)
    del cwltool, WDL, localwes


class ForkedEngine:
    """The engine child, with the little of Popen's interface the supervisor uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork_engine(
    argv: Sequence[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path
) -> ForkedEngine:
    """Fork a child that runs `python -m MODULE args` in-process, in its own group."""
    module = warm_module(argv)
    assert module is not None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedEngine(pid)
    try:  # the engine child: never returns
        os.setpgid(0, 0)
        _redirect(stdout, stderr)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        sys.argv = [module, *argv[3:]]
        code = _run_module(module)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _redirect(stdout: Path, stderr: Path) -> None:
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _run_module(module: str) -> int:
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0
