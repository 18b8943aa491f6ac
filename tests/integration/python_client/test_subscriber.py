"""The subscriber on CPython (httpx) and in Pyodide under Node (fetch), against a real Herald."""
from __future__ import annotations

from typing import Callable

import pytest
from herald_client import Herald

from tests.herald_server import HeraldServer
from tests.integration.python_client.cases import CASES
from tests.integration.python_client.runtimes import NodeRuntime, Runtime


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_subscriber(case: Callable[[Runtime, HeraldServer, Herald, str], None], runtime: Runtime,
                    herald: HeraldServer, producer: Herald, user_id: str) -> None:
    case(runtime, herald, producer, user_id)


@pytest.mark.parametrize("runtime", ["node"], indirect=True)
def test_node_runs_the_served_wheel_in_pyodide_and_fetches_only_the_local_server(runtime: NodeRuntime,
                                                                                 herald: HeraldServer) -> None:
    assert runtime.loaded == "0.1.0 emscripten"  # the wheel from web/vendor/pyodide, in Pyodide
    fetched = runtime.fetched()  # by every scenario this module ran in Node
    assert any(url.startswith(herald.url + "/api/notifications/stream") for url in fetched)
    assert [url for url in fetched if not url.startswith(herald.url + "/")] == []
