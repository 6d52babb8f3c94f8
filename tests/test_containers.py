"""Container runtime detection runs each runtime, not just finds its binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from WDL.runtime.task_container import TaskContainer

from localwes.containers import ContainerRuntimeError, choose_runtime
from localwes.engines.base import CheckedParameters
from localwes.engines.cwltool import CwltoolEngine
from localwes.engines.miniwdl import MiniwdlEngine


def fake_tool(folder: Path, name: str, exit_code: int) -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    tool.chmod(0o755)


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_auto_skips_a_docker_client_without_an_engine(fake_path: Path) -> None:
    fake_tool(fake_path, "docker", 1)  # `docker info` fails: no engine behind the client
    fake_tool(fake_path, "podman", 0)
    assert choose_runtime("auto") == "podman"


def test_auto_falls_back_to_none(fake_path: Path) -> None:
    fake_tool(fake_path, "docker", 1)
    assert choose_runtime("auto") == "none"
    fake_tool(fake_path, "apptainer", 0)
    assert choose_runtime("auto") == "singularity"


def test_a_forced_runtime_that_does_not_work_is_an_error(fake_path: Path) -> None:
    fake_tool(fake_path, "docker", 1)
    with pytest.raises(ContainerRuntimeError, match="docker"):
        choose_runtime("docker")
    assert choose_runtime("none") == "none"


@pytest.mark.parametrize(
    ("runtime", "flags"),
    [
        ("docker", []),
        ("podman", ["--podman"]),
        ("singularity", ["--singularity"]),
        ("none", ["--no-container"]),
    ],
)
def test_cwltool_gets_the_runtime_flag(runtime: str, flags: list[str]) -> None:
    argv = CwltoolEngine(runtime).command("workflow/x.cwl", CheckedParameters()).argv
    container_flags = {"--podman", "--singularity", "--no-container"} & set(argv)
    assert sorted(container_flags) == flags


@pytest.mark.parametrize(
    ("runtime", "backend"),
    [
        ("docker", "localwes_docker_swarm"),
        ("podman", "localwes_podman"),
        ("singularity", "localwes_singularity"),
        ("none", "localwes_host"),
    ],
)
def test_miniwdl_gets_the_same_runtime(runtime: str, backend: str) -> None:
    env = MiniwdlEngine(runtime).command("workflow/x.wdl", CheckedParameters()).env
    assert env["MINIWDL__SCHEDULER__CONTAINER_BACKEND"] == backend


def test_the_host_backend_is_registered_for_plain_miniwdl(tmp_path: Path) -> None:
    backends = {e.name: e for e in entry_points(group="miniwdl.plugin.container_backend")}
    for name in (
        "localwes_host",
        "localwes_docker_swarm",
        "localwes_podman",
        "localwes_singularity",
    ):
        assert issubclass(backends[name].load(), TaskContainer)
    wdl = tmp_path / "t.wdl"
    wdl.write_text(
        'version 1.0\ntask t { command <<< echo "$HOME" >/dev/null; echo on-host >>>\n'
        "output { String s = read_string(stdout()) } }\n"
    )
    env = {**os.environ, "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "localwes_host"}
    miniwdl = Path(sys.executable).parent / "miniwdl"
    done = subprocess.run(
        [str(miniwdl), "run", str(wdl), "-d", str(tmp_path / "run") + "/."],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"] == {"t.s": "on-host"}
