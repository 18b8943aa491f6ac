"""Paths that become file names: whatever a client puts in them is a 4xx, never a 5xx (fault 2 of issue 15).

A NUL byte made ``Path.stat()`` raise ``ValueError: embedded null byte`` in the
static handler (500). Its siblings are tried here too: names too long for the
file system, encoded separators and traversal, on every route that serves a file.
"""
from __future__ import annotations

import pytest

from tests.herald_server import HeraldServer
from tests.raw_http import request

HOSTILE = [
    "/static/%00", "/static/demo.html%00", "/static/..%00/pyproject.toml", "/static/%00/../demo.html",
    "/static/" + "a" * 5000, "/static/" + "a/" * 3000 + "x", "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2fpyproject.toml", "/static/herald/%ff%fe.js", "/static/%c0%ae%c0%ae/pyproject.toml",
    "/static/vendor/pyodide/%00.whl", "/sw.js%00", "/api/push/icon.png%00", "/demo/python%00",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_a_hostile_path_is_a_clear_4xx(server: HeraldServer, path: str) -> None:
    answer = request(server.port, "GET", path)
    assert 400 <= answer.status < 500, (answer.status, answer.body[:200])
    assert b"[build-system]" not in answer.body
    if (answer.header("content-type") or "").startswith("application/json"):
        assert b'"error"' in answer.body


def test_the_static_files_still_serve(server: HeraldServer) -> None:
    answer = request(server.port, "GET", "/static/herald/index.js")
    assert answer.status == 200 and b"export" in answer.body
