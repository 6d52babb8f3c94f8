"""`python -m localwes.engines.cwltool_runner ARGS...`: cwltool in-process, with
task records and its exit status kept.

`python -m cwltool` drops cwltool's exit status (its __main__ ignores what
run() returns), which would turn every failed workflow into a success; this
entry point exits with cwltool's real status.

It also records every CommandLineTool job as a task (tasks/ in the run folder)
by hooking two cwltool internals, pinned to the cwltool release in
pyproject.toml (tests/test_tasks.py fails if the hooks stop firing):
- CommandLineTool.job, to learn each job's step name and scatter index;
- cwltool.job._job_popen, which starts every job's process: its argv, its
  stdout/stderr files and its exit status;
and it replaces cwltool's SIGTERM handler (cwltool.main._signal_handler and the
_terminate_processes it runs), so that a canceled run ends as soon as its jobs
do, with or without --parallel.
A job whose stdout/stderr are not captured by the tool gets its own files in
tasks/ instead of going to cwltool's log.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from localwes.groups import proc_stat
from localwes.tasks import TaskRecorder, recorder_for_this_run

# How long a SIGTERM'd engine waits for its jobs to exit before killing them; the
# supervisor SIGKILLs the whole group after cancel_grace in any case.
JOB_EXIT_WAIT_S = 10.0

# How long a SIGTERM'd engine with --parallel waits for its job threads to record
# the jobs' ends before it exits.
RECORD_WAIT_S = 1.0

# Display names of jobs, by cwltool's unique job name.
_display_names: dict[str, str] = {}
_names_lock = threading.Lock()
# Task ids of jobs started and not yet recorded as ended.
_open_jobs: set[str] = set()


def main(argv: list[str]) -> int:
    recorder = recorder_for_this_run()
    if recorder is not None:
        install_hooks(recorder, parallel="--parallel" in argv)
    from cwltool.main import run

    if "--enable-ext" in argv:
        status: int = run(argv)
    else:
        # cwltool's main() throws away its cache of the parsed CWL schemas on every
        # call (setup_schema -> use_standard_schema) unless given a callback; keeping
        # them is what makes a warm start warm (localwes.engines.warm preloads them).
        status = run(argv, custom_schema_callback=keep_standard_schemas)
    return status


def keep_standard_schemas() -> None:
    """The standard CWL schemas are what get_schema() caches; nothing to change."""


def install_hooks(recorder: TaskRecorder, parallel: bool = False) -> None:
    import cwltool.command_line_tool
    import cwltool.job
    import cwltool.main

    tool_class = cwltool.command_line_tool.CommandLineTool
    tool_class.job = _naming_jobs(tool_class.job)  # type: ignore[method-assign]
    cwltool.job._job_popen = _recording_popen(cwltool.job._job_popen, recorder)
    cwltool.main._terminate_processes = _ending_jobs_promptly(cwltool.main._terminate_processes)
    if parallel:
        cwltool.main._signal_handler = _exit_without_joining


def _exit_without_joining(signum: int, _: Any) -> None:
    """Why: with --parallel, cwltool's own handler deadlocks. Its sys.exit() leaves
    run_jobs holding workflow_eval_lock, and run_jobs' `finally` then joins the job
    threads, which wait for that lock to report their jobs' ends: the engine only
    ended at the supervisor's SIGKILL. So: end the jobs, let their threads record
    that (they need no lock for it), flush the logs, and leave at once."""
    import cwltool.main

    cwltool.main._terminate_processes()
    deadline = time.monotonic() + RECORD_WAIT_S
    while _open_jobs and time.monotonic() < deadline:
        time.sleep(0.01)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(signum)


def _ending_jobs_promptly(original: Callable[[], None]) -> Callable[[], None]:
    """Why: cwltool's _terminate_processes reaps each job with Popen.wait(10). The
    SIGTERM handler runs it in the main thread, interrupting that thread's own
    wait() on the job, which holds the Popen's wait lock: the wait(10) cannot reap
    the job and always lasts 10 s, so every cancel took 10 s. The jobs are in the
    engine's process group and got the same SIGTERM; wait until they have exited,
    then kill any left. Jobs in containers (a --cidfile) still go to cwltool's own
    version, which also stops their container."""

    def terminate_processes() -> None:
        from cwltool.utils import processes_to_kill

        jobs = list(processes_to_kill)
        processes_to_kill.clear()
        contained = [job for job in jobs if any("--cidfile" in str(a) for a in _argv(job))]
        processes_to_kill.extend(contained)
        original()
        plain = [job for job in jobs if job not in contained]
        deadline = time.monotonic() + JOB_EXIT_WAIT_S
        while any(_running(job.pid) for job in plain) and time.monotonic() < deadline:
            time.sleep(0.02)
        for job in plain:
            if _running(job.pid):
                job.kill()

    return terminate_processes


def _argv(job: Any) -> list[Any]:
    return list(job.args) if isinstance(job.args, list | tuple) else [job.args]


def _running(pid: int) -> bool:
    """Alive and not a zombie: an exited job stays unreaped while cwltool's wait on
    it is interrupted."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _naming_jobs(original: Callable[..., Generator[Any, None, None]]) -> Any:
    @functools.wraps(original)
    def job(self: Any, job_order: Any, output_callbacks: Any, runtime_context: Any) -> Any:
        step = runtime_context.name or _tool_name(str(self.tool.get("id", "job")))
        display = step + "".join(f"[{i}]" for i in _scatter_indices(output_callbacks))
        for item in original(self, job_order, output_callbacks, runtime_context):
            name = getattr(item, "name", None)
            if name:
                with _names_lock:
                    _display_names[name] = display
            yield item

    return job


def _tool_name(tool_id: str) -> str:
    """A job outside any step is named as cwltool's log names it: by the fragment of
    its id (`main.cwl#upper` -> `upper`), else by its file's name (`sleep.cwl`)."""
    return tool_id.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _scatter_indices(callback: Any, depth: int = 0) -> list[int]:
    """cwltool hands each scatter job a callback curried with its scatter index
    (receive_scatter_output), wrapped in the step's own callback; nested scatters
    chain one receiver to the next. Outermost index first."""
    if depth > 20 or not isinstance(callback, functools.partial):
        return []
    receiver = callback.func
    if getattr(receiver, "__name__", "") == "receive_scatter_output" and callback.args:
        index = callback.args[0]
        outer = getattr(getattr(receiver, "__self__", None), "output_callback", None)
        own = [index] if isinstance(index, int) else []
        return _scatter_indices(outer, depth + 1) + own
    for arg in callback.args:
        if found := _scatter_indices(arg, depth + 1):
            return found
    return []


def _recording_popen(original: Callable[..., int], recorder: TaskRecorder) -> Callable[..., int]:
    @functools.wraps(original)
    def job_popen(
        commands: list[str],
        stdin_path: Any,
        stdout_path: str | None,
        stderr_path: str | None,
        *args: Any,
        **kwargs: Any,
    ) -> int:
        name = kwargs.get("name") or "job"
        with _names_lock:
            display = _display_names.get(name, name)
        record = recorder.start(display, [str(c) for c in commands], None, None)
        stdout_path = _stream_file(recorder, record, "stdout", stdout_path)
        stderr_path = _stream_file(recorder, record, "stderr", stderr_path)
        recorder.update(record)
        with _names_lock:
            _open_jobs.add(record["id"])
        try:
            status = original(commands, stdin_path, stdout_path, stderr_path, *args, **kwargs)
        except SystemExit:  # cwltool's SIGTERM handler: the run is being canceled
            recorder.end(record, None, "stopped: the engine was terminated (canceled)")
            raise
        except BaseException as exc:
            recorder.end(record, None, f"the job could not run: {exc!r}")
            raise
        else:
            recorder.end(record, status)
        finally:
            with _names_lock:
                _open_jobs.discard(record["id"])
        return status

    return job_popen


def _stream_file(
    recorder: TaskRecorder, record: dict[str, Any], stream: str, path: str | None
) -> str:
    """Where the job's stream goes, noted in its record. A stream the tool captures
    itself is hard-linked into tasks/, so the log outlives cwltool moving the file."""
    log = recorder.tasks_dir / f"{record['id']}.{stream}.log"
    if path is None:
        log.touch()
        record[f"{stream}_file"] = recorder.relative(str(log))
        return str(log)
    open(path, "ab").close()
    try:
        os.link(path, log)
        record[f"{stream}_file"] = recorder.relative(str(log))
    except OSError:
        record[f"{stream}_file"] = recorder.relative(path)
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
