"""Every rejected request is a clear ErrorResponse and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from localwes.store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, check_page_size
from tests.conftest import DATA
from tests.helpers import Wes

ECHO = {"echo.cwl": DATA / "cwl" / "echo.cwl"}
UNKNOWN_RUN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def raw_multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart body written by hand, so file names reach the server exactly as given."""
    boundary = "localwes-test-boundary"
    chunks = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for filename, content in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="workflow_attachment"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        chunks.append(head.encode("utf-8", "surrogateescape") + content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def assert_error(body: dict[str, object], status: int, *words: str) -> None:
    assert body["status_code"] == status
    for word in words:
        assert word in str(body["msg"]), body


def assert_nothing_left(state_dir: Path) -> None:
    assert list((state_dir / "runs").iterdir()) == []
    assert list((state_dir / ".staging").iterdir()) == []


@pytest.mark.parametrize("missing", ["workflow_type", "workflow_type_version", "workflow_url"])
async def test_missing_required_field(wes: Wes, state_dir: Path, missing: str) -> None:
    fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    del fields[missing]
    body, ctype = raw_multipart(fields, {"echo.cwl": b"cwlVersion: v1.2"})
    error = await wes.post("/runs", status=400, data=body, headers={"Content-Type": ctype})
    assert_error(error, 400, missing, "missing")
    assert_nothing_left(state_dir)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"workflow_type": "PYTHON"}, ["workflow_type", "PYTHON", "CWL"]),
        ({"workflow_type_version": "v0.9"}, ["workflow_type_version", "v1.2"]),
        ({"workflow_engine": "toil"}, ["workflow_engine", "toil"]),
        (
            {"workflow_engine": "cwltool", "workflow_engine_version": "0.1"},
            ["workflow_engine_version", "0.1"],
        ),
        ({"workflow_engine_version": "1.0"}, ["workflow_engine", "required"]),
        ({"workflow_params": "{not json"}, ["workflow_params", "JSON"]),
        ({"workflow_params": "[1, 2]"}, ["workflow_params", "object"]),
        ({"tags": "{"}, ["tags", "JSON"]),
        ({"tags": '{"a": {"b": 1}}'}, ["tags", "'a'"]),
        ({"workflow_engine_parameters": "nope"}, ["workflow_engine_parameters", "JSON"]),
        (
            {"workflow_engine_parameters": '{"--cachedir": "/tmp"}'},
            ["workflow_engine_parameters", "--cachedir"],
        ),
        ({"workflow_url": "missing.cwl"}, ["workflow_url", "missing.cwl"]),
        ({"workflow_url": "../echo.cwl"}, ["workflow_url", ".."]),
        ({"workflow_url": "ftp://example.org/x.cwl"}, ["workflow_url", "ftp"]),
        ({"workflow_url": "/no/such/file.cwl"}, ["workflow_url", "/no/such/file.cwl"]),
        (
            {"workflow_params": '{"f": {"class": "File", "location": "nothere.txt"}}'},
            ["workflow_params.f.location", "nothere.txt"],
        ),
        (
            {"workflow_params": '{"f": {"class": "File", "path": "../../etc/passwd"}}'},
            ["workflow_params.f.path", ".."],
        ),
        (
            {"workflow_params": '{"f": {"class": "File", "location": "s3://bucket/in.txt"}}'},
            ["workflow_params.f.location", "s3:// is not a filesystem protocol"],
        ),
        (
            {"workflow_params": '{"f": [{"class": "File", "location": "/no/such/input.txt"}]}'},
            ["workflow_params.f[0].location", "no file or folder at /no/such/input.txt"],
        ),
        (
            {
                "workflow_params": '{"d": {"class": "Directory", "location": "file:///no/such%20dir"}}'
            },
            ["workflow_params.d.location", "no file or folder at /no/such dir"],
        ),
    ],
)
async def test_bad_field_is_400_naming_it(
    wes: Wes, state_dir: Path, fields: dict[str, str], words: list[str]
) -> None:
    values = {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_url": "echo.cwl",
        **fields,
    }
    body, ctype = raw_multipart(values, {"echo.cwl": ECHO["echo.cwl"].read_bytes()})
    error = await wes.post("/runs", status=400, data=body, headers={"Content-Type": ctype})
    assert_error(error, 400, *words)
    assert_nothing_left(state_dir)


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("/etc/passwd", "absolute"),
        ("../escape.cwl", ".."),
        ("sub/../../escape.cwl", ".."),
        ("sub\\\\evil.cwl", "backslash"),
        ("nul%00.cwl", "NUL"),
        ("raw-nul\x00.cwl", "malformed"),
        ("..%2Fescape.cwl", ".."),
        ("x" * 300 + ".txt", "too long"),
        ("sub/" + "d" * 300 + "/tool.cwl", "too long"),
    ],
)
async def test_unsafe_attachment_names_are_refused(
    wes: Wes, state_dir: Path, filename: str, problem: str
) -> None:
    fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    body, ctype = raw_multipart(fields, {"echo.cwl": b"x", filename: b"evil"})
    error = await wes.post("/runs", status=400, data=body, headers={"Content-Type": ctype})
    assert_error(error, 400, problem)
    assert_nothing_left(state_dir)
    assert not (state_dir / "escape.cwl").exists()


@pytest.mark.parametrize(
    "files", [{"lib": b"a file", "lib/tool.cwl": b"x"}, {"lib/tool.cwl": b"x", "lib": b"a file"}]
)
async def test_attachment_colliding_with_a_folder_is_refused(
    wes: Wes, state_dir: Path, files: dict[str, bytes]
) -> None:
    fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    body, ctype = raw_multipart(fields, {"echo.cwl": b"x", **files})
    error = await wes.post("/runs", status=400, data=body, headers={"Content-Type": ctype})
    assert_error(error, 400, "workflow_attachment", "'lib", "collides")
    assert_nothing_left(state_dir)


async def test_duplicate_attachment_and_wrong_content_type(wes: Wes, state_dir: Path) -> None:
    fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    body, ctype = raw_multipart(fields, {"echo.cwl": b"x"})
    files_twice = body.replace(
        b"--localwes-test-boundary--",
        b'--localwes-test-boundary\r\nContent-Disposition: form-data; name="workflow_attachment";'
        b' filename="echo.cwl"\r\n\r\ny\r\n--localwes-test-boundary--',
    )
    error = await wes.post("/runs", status=400, data=files_twice, headers={"Content-Type": ctype})
    assert_error(error, 400, "workflow_attachment", "attached twice with different contents")
    error = await wes.post(
        "/runs", status=400, data="hello", headers={"Content-Type": "text/plain"}
    )
    assert_error(error, 400, "Content-Type")
    error = await wes.post(
        "/runs", status=400, data="{", headers={"Content-Type": "application/json"}
    )
    assert_error(error, 400, "JSON")
    assert_nothing_left(state_dir)


@pytest.mark.parametrize(
    "path",
    [
        f"/runs/{UNKNOWN_RUN}",
        f"/runs/{UNKNOWN_RUN}/status",
        f"/runs/{UNKNOWN_RUN}/tasks",
        f"/runs/{UNKNOWN_RUN}/tasks/1",
        f"/runs/{UNKNOWN_RUN}/logs/stderr",
        "/runs/not-a-run-id",
        "/runs/..%2F..%2Fetc",
        "/no-such-endpoint",
    ],
)
async def test_unknown_things_are_404(wes: Wes, path: str) -> None:
    assert_error(await wes.get(path, status=404), 404)


async def test_unknown_task_and_cancel_of_unknown_run(wes: Wes) -> None:
    assert_error(await wes.post(f"/runs/{UNKNOWN_RUN}/cancel", status=404), 404, UNKNOWN_RUN)
    run_id = await wes.submit("echo.cwl", {"message": "x"}, dict(ECHO))
    assert_error(await wes.get(f"/runs/{run_id}/tasks/nope", status=404), 404, "nope")
    await wes.wait(run_id)


@pytest.mark.parametrize(
    "query",
    [
        {"page_size": "0"},
        {"page_size": "x"},
        {"page_size": str(2**63)},  # WES: an int64
        {"page_token": "garbage"},
    ],
)
async def test_bad_paging_is_400(wes: Wes, query: dict[str, str]) -> None:
    assert_error(await wes.get("/runs", status=400, **query), 400, next(iter(query)))


async def test_a_page_larger_than_the_largest_is_the_largest(wes: Wes) -> None:
    # WES: a service "must not return more items than page_size, but it may return fewer".
    assert check_page_size(100000) == MAX_PAGE_SIZE
    assert (await wes.get("/runs", page_size=100000))["runs"] == []
    # ListTasks has no 400 in WES: a page size below one gets the default.
    assert check_page_size(0, refuse_below_one=False) == DEFAULT_PAGE_SIZE


async def test_json_body_fields_are_checked_too(wes: Wes, state_dir: Path) -> None:
    error = await wes.post(
        "/runs",
        status=400,
        json={
            "workflow_type": "CWL",
            "workflow_type_version": "v1.2",
            "workflow_url": "echo.cwl",
            "workflow_params": json.dumps({"message": "x"}),
        },
    )
    assert_error(error, 400, "workflow_url", "echo.cwl")
    error = await wes.post("/runs", status=400, json=["not", "an", "object"])
    assert_error(error, 400, "JSON object")
    assert_nothing_left(state_dir)


@pytest.mark.parametrize("second", ["same", "different"])
async def test_a_file_attached_twice(wes: Wes, state_dir: Path, second: str) -> None:
    """As wes-client does when the workflow is also in --attachments: the same bytes
    are one file; different bytes under one name are refused."""
    workflow = ECHO["echo.cwl"].read_bytes()
    form = aiohttp.FormData()
    fields = {"workflow_type": "CWL", "workflow_type_version": "v1.2", "workflow_url": "echo.cwl"}
    for name, value in {**fields, "workflow_params": '{"message": "twice"}'}.items():
        form.add_field(name, value)
    form.add_field("workflow_attachment", workflow, filename="echo.cwl")
    again = workflow if second == "same" else workflow + b"# changed\n"
    form.add_field("workflow_attachment", again, filename="echo.cwl")
    if second == "same":
        run_id = (await wes.post("/runs", data=form))["run_id"]
        assert await wes.wait(run_id) == "COMPLETE"
        assert (state_dir / "runs" / run_id / "workflow" / "echo.cwl").read_bytes() == workflow
    else:
        error = await wes.post("/runs", status=400, data=form)
        assert_error(error, 400, "'echo.cwl' is attached twice with different contents")
        assert_nothing_left(state_dir)


async def test_a_urlencoded_form_is_a_run_request_and_each_field_comes_once(
    wes: Wes, state_dir: Path
) -> None:
    fields = {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.2",
        "workflow_url": str(ECHO["echo.cwl"]),  # no attachments in such a form
        "workflow_params": '{"message": "form"}',
    }
    run_id = (await wes.post("/runs", data=fields))["run_id"]
    assert await wes.wait(run_id) == "COMPLETE"
    twice = [*fields.items(), ("workflow_type", "WDL")]
    error = await wes.post("/runs", status=400, data=twice)
    assert_error(error, 400, "workflow_type: given more than once")
