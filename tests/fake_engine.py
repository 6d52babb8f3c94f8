"""A tiny engine for fast scheduler tests: the workflow is a Python script.

The script gets inputs.json as its argument, prints its output object on
stdout (as cwltool does) and exits with the code it wants the run to have.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from localwes.engines.base import (
    CheckedParameters,
    EngineCommand,
    EngineParameter,
    engine_environment,
    read_output_object,
)
from localwes.store import RunPaths

# A script driven by its inputs: sleeps, appends start/end lines to a log, exits.
SCRIPT = """\
import json, os, sys, time
p = json.load(open(sys.argv[1]))
def note(event):
    if p.get("log"):
        with open(p["log"], "a") as f:
            f.write(f"{event} {p.get('name', '')} {time.time()} {os.getpid()}\\n")
note("start")
if p.get("open_task"):  # a task that starts and is never recorded as ended
    from localwes.tasks import recorder_for_this_run
    recorder_for_this_run().start(p["open_task"], ["true"], None, None)
print("starting", p.get("name"), file=sys.stderr, flush=True)
time.sleep(float(p.get("sleep", 0)))
note("end")
print(json.dumps({"name": p.get("name")}))
sys.exit(int(p.get("exit", 0)))
"""


class FakeEngine:
    name = "fake"
    workflow_type = "FAKE"

    def version(self) -> str:
        return "1.0"

    def type_versions(self) -> list[str]:
        return ["1"]

    def default_parameters(self) -> list[EngineParameter]:
        return []

    def check_type_version(self, version: str, document: Path | None) -> tuple[str, list[str]]:
        return version, []

    def check_parameters(self, params: dict[str, str]) -> CheckedParameters:
        return CheckedParameters()

    def prepare_inputs(self, params: dict[str, Any], staged: RunPaths) -> dict[str, Any]:
        return params

    def command(self, workflow: str, parameters: CheckedParameters) -> EngineCommand:
        return EngineCommand(
            self.name, [sys.executable, workflow, "inputs.json"], engine_environment()
        )

    def collect_outputs(self, paths: RunPaths) -> dict[str, Any]:
        return read_output_object(paths.stdout)

    def failure_notes(self, paths: RunPaths) -> list[str]:
        return []
