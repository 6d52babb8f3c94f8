"""Engines started warm: forked from a process that has already imported them.

Starting cwltool or miniwdl costs most of a second in imports and schema
loading, more than a trivial workflow takes to run. A supervisor forked from the
zygote (localwes.zygote) starts its engine by forking too, and runs the engine's
`python -m MODULE` in the child by calling that module's main: same argv, same
process group, streams and environment as a cold start, without paying the
start-up again. Before forking anything, the zygote runs one trivial workflow
per engine, so what each engine caches on its first run is already there.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

# Modules a warm engine may run (`python -m MODULE`), and the function that is
# that module's main, called with the arguments after the module name.
WARM_MODULES = {
    "localwes.engines.cwltool_runner": ("localwes.engines.cwltool_runner", "main"),
    "WDL": ("WDL.CLI", "main"),
}


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
    _warm_up()
    del cwltool, WDL, localwes


def _warm_up() -> None:
    """Run a trivial CWL tool and WDL task once: each engine caches a good deal on
    its first run (loaders, validators, its own set-up), and a forked child keeps
    what was cached before the fork."""
    import json
    import logging
    import tempfile

    from cwltool.main import run as run_cwltool
    from WDL.CLI import main as run_miniwdl

    from localwes.engines.cwltool_runner import keep_standard_schemas

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    handlers = list(logging.getLogger().handlers)
    with tempfile.TemporaryDirectory() as scratch, open(os.devnull, "w") as quiet:
        tool = {
            "cwlVersion": "v1.2",
            "class": "CommandLineTool",
            "baseCommand": "true",
            "inputs": [],
            "outputs": [],
        }
        Path(scratch, "t.cwl").write_text(json.dumps(tool))
        Path(scratch, "t.wdl").write_text("version 1.0\ntask t { command <<< true >>> }\n")
        env = {"MINIWDL__SCHEDULER__CONTAINER_BACKEND": "localwes_host"}
        with (
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
            _environment(env),
            contextlib.suppress(SystemExit),
        ):
            run_cwltool(
                ["--no-container", "--quiet", "--outdir", f"{scratch}/o", f"{scratch}/t.cwl"],
                custom_schema_callback=keep_standard_schemas,
            )
            run_miniwdl(["run", f"{scratch}/t.wdl", "--dir", f"{scratch}/w/."])  # type: ignore[no-untyped-call]
    # The engines installed handlers meant for their own runs: undo that.
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    logging.getLogger().handlers[:] = handlers


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


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
    """What `python -m MODULE` would do, with the module already imported."""
    module_name, function = WARM_MODULES[module]
    main = getattr(importlib.import_module(module_name), function)
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit_:
        code = exit_.code
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
