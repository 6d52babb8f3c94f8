"""Every endpoint's responses, checked against the official WES 1.1 OpenAPI file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.conftest import DATA
from tests.test_scheduler import submit_fake

SPEC = Path(__file__).parent / "spec" / "workflow_execution_service.local-refs.openapi.yaml"
ORIGIN = "http://localhost"


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    spec = _string_keys(yaml.safe_load(SPEC.read_text()))
    # The spec's server template puts a "/" inside a variable, which no matcher
    # accepts; the paths and schemas are what is checked, untouched.
    spec["servers"] = [{"url": f"{ORIGIN}/ga4gh/wes/v1"}]
    return OpenAPI.from_dict(spec, base_uri=SPEC.resolve().as_uri())


class CheckedWes:
    """Calls the server and validates each response against the spec."""

    def __init__(self, session: aiohttp.ClientSession, base: str, openapi: OpenAPI) -> None:
        self.session = session
        self.base = base
        self.openapi = openapi
        self.checked: list[tuple[str, str, int]] = []

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, **kwargs) as response:
            raw = await response.read()
            status = response.status
        request = MockRequest(
            ORIGIN,
            method.lower(),
            "/ga4gh/wes/v1" + path.split("?")[0],
            args=kwargs.get("params") or {},
        )
        self.openapi.validate_response(
            request, MockResponse(raw, status_code=status, content_type="application/json")
        )
        self.checked.append((method, path, status))
        return status, json.loads(raw)


async def test_every_endpoint_answers_as_the_spec_says(wes: Any, openapi: OpenAPI) -> None:
    api = CheckedWes(wes.session, wes.base, openapi)
    assert (await api.call("GET", "/service-info"))[0] == 200
    ok = await submit_fake(wes, name="ok")
    failed = await submit_fake(wes, name="bad", exit=2)
    long = await submit_fake(wes, name="long", sleep=300)
    cwl = await wes.submit("echo.cwl", {"message": "x"}, {"echo.cwl": DATA / "cwl" / "echo.cwl"})
    for run_id in (ok, failed, cwl):
        await wes.wait(run_id)
    await wes.wait(long, {"RUNNING"})
    for run_id in (ok, failed, long, cwl):
        assert (await api.call("GET", f"/runs/{run_id}"))[0] == 200
        assert (await api.call("GET", f"/runs/{run_id}/status"))[0] == 200
        assert (await api.call("GET", f"/runs/{run_id}/tasks", params={"page_size": "5"}))[0] == 200
    status, tasks = await api.call("GET", f"/runs/{cwl}/tasks")
    assert status == 200 and len(tasks["task_logs"]) == 1
    assert (await api.call("GET", f"/runs/{cwl}/tasks/{tasks['task_logs'][0]['id']}"))[0] == 200
    assert (await api.call("POST", f"/runs/{long}/cancel"))[0] == 200
    await wes.wait(long)
    assert (await api.call("GET", f"/runs/{long}"))[0] == 200
    status, page = await api.call("GET", "/runs", params={"page_size": "2"})
    assert status == 200 and len(page["runs"]) == 2
    assert (await api.call("GET", "/runs", params={"page_token": page["next_page_token"]}))[
        0
    ] == 200
    form = aiohttp.FormData(
        {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    )
    form.add_field("workflow_attachment", b"cwlVersion: v1.2\n", filename="echo.cwl")
    assert (await api.call("POST", "/runs", data=form))[0] == 200
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for path in (
        f"/runs/{unknown}",
        f"/runs/{unknown}/status",
        f"/runs/{unknown}/tasks",
        f"/runs/{unknown}/tasks/x",
        f"/runs/{ok}/tasks/x",
    ):
        assert (await api.call("GET", path))[0] == 404
    assert (await api.call("POST", f"/runs/{unknown}/cancel"))[0] == 404
    assert (await api.call("GET", "/runs", params={"page_size": "0"}))[0] == 400
    assert (await api.call("POST", "/runs", json={"workflow_type": "CWL"}))[0] == 400
    assert len(api.checked) == 28
