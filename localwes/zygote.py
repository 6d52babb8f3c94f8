"""`python -m localwes.zygote SOCKET DAEMON_PID`: forks warm supervisors.

The daemon starts one zygote. It imports the engines once, then waits on a Unix
socket. For each run the daemon sends {"run_dir", "attempt", "grace"} with the
write end of a pipe (SCM_RIGHTS); the zygote forks a child that becomes a
supervisor in a session of its own, with that pipe as its stdout, exactly as a
cold `python -m localwes.supervisor` would be, and answers with the child's
pid and a pidfd for it. The child takes the run lock, writes exit.json and
outlives the daemon and the zygote alike. The zygote ends with its daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import sys
from typing import Any

from localwes import supervisor
from localwes.engines import warm


def main(argv: list[str]) -> int:
    path, daemon_pid = argv[0], int(argv[1])
    warm.preload()
    daemon = os.pidfd_open(daemon_pid)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        previous = os.umask(0o177)
        try:
            listener.bind(path)
        finally:
            os.umask(previous)
        listener.listen(64)
        print("ready", flush=True)
        while True:
            ready, _, _ = select.select([listener.fileno(), daemon], [], [], 1.0)
            _reap()
            if daemon in ready:
                return 0  # the daemon is gone: supervisors carry on without us
            if listener.fileno() in ready:
                connection, _ = listener.accept()
                with connection:
                    _serve(connection, inherited=[listener.fileno(), daemon])


def _serve(connection: socket.socket, inherited: list[int]) -> None:
    message, fds, _, _ = socket.recv_fds(connection, 65536, 1)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return
    request = json.loads(message)
    pid = _fork_supervisor(request, fds[0], [*inherited, connection.fileno()])
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(connection, [json.dumps({"pid": pid}).encode()], [pidfd])
    finally:
        os.close(pidfd)


def _fork_supervisor(request: dict[str, Any], started_pipe: int, inherited: list[int]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(started_pipe)
        return pid
    code = 1
    try:  # the supervisor child: never returns
        for fd in inherited:  # the zygote's sockets are not the supervisor's to hold
            os.close(fd)
        os.setsid()
        os.dup2(started_pipe, 1)
        os.close(started_pipe)
        log = os.open(
            os.path.join(request["run_dir"], "supervisor.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
        os.dup2(log, 2)
        os.close(log)
        supervisor.WARM = True
        code = supervisor.main([request["run_dir"], str(request["attempt"]), str(request["grace"])])
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    """Reap ended supervisors (their pidfds, held by the daemon, already told it)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
