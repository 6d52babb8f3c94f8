"""Container runtime detection runs each runtime, not just finds its binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from localwes.containers import ContainerRuntimeError, choose_runtime
from localwes.engines.base import CheckedParameters
from localwes.engines.cwltool import CwltoolEngine


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
