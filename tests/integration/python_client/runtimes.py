"""Where the scenarios of ``scenarios.py`` run: CPython (in this process), Pyodide in Node, Pyodide in Chromium.

Each runtime starts a scenario and hands back a ``Run``: the host test waits for
its progress lines (to publish or restart the server at the right moment) and
then for its result. The same host test then drives every runtime alike.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios.py"
VENDOR = HERE.parents[2] / "web" / "vendor" / "pyodide"


class Run:
    """One scenario in flight: progress lines as they come, then a result or an error."""

    def __init__(self, pump: Callable[[], None] = lambda: None) -> None:
        self.reports: list[str] = []
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self._changed = threading.Condition()
        self._pump = pump  # Chromium: pull news from the page (the sync Playwright API cannot push)

    def update(self, report: str | None = None, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self._changed:
            if report is not None:
                self.reports.append(report)
            if result is not None:
                self.result = result
            if error is not None:
                self.error = error
            self._changed.notify_all()

    def _until(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._pump()
            with self._changed:
                if self.error is not None:
                    raise AssertionError(f"scenario failed: {self.error}")
                if done():
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {what} within {timeout} s; reports so far: {self.reports}")
                self._changed.wait(0.05)

    def wait_for(self, report: str, timeout: float = 30) -> None:
        self._until(lambda: report in self.reports, repr(report), timeout)

    def outcome(self, timeout: float = 60) -> dict[str, Any]:
        self._until(lambda: self.result is not None, "result", timeout)
        assert self.result is not None
        return self.result


class Runtime(Protocol):
    name: str
    auth_mode: str  # "token" or "cookie"

    def start(self, scenario: str, **kwargs: Any) -> Run: ...


class CPythonRuntime:
    """This interpreter, httpx, a token header. The scenarios' loop runs in a thread of its own."""

    name, auth_mode = "cpython", "token"

    def __init__(self) -> None:
        import importlib.util

        spec = importlib.util.spec_from_file_location("scenarios", SCENARIOS)
        assert spec is not None and spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def start(self, scenario: str, **kwargs: Any) -> Run:
        run = Run()
        future = asyncio.run_coroutine_threadsafe(
            self.module.run(scenario, json.dumps(kwargs), lambda text: run.update(report=text)), self.loop)
        future.add_done_callback(lambda f: run.update(error=repr(f.exception())) if f.exception()
                                 else run.update(result=json.loads(f.result())))
        return run

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class NodeRuntime:
    """Pyodide in Node 20 from web/vendor/pyodide (what Herald serves), a token header, a streaming fetch."""

    name, auth_mode = "node", "token"

    def __init__(self) -> None:
        self.process = subprocess.Popen(["node", str(HERE / "node_harness.mjs"), str(VENDOR), str(SCENARIOS)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first.startswith('{"loaded"'):
            raise RuntimeError(f"Pyodide did not load in Node: {first!r}")
        self.loaded = json.loads(first)["loaded"]
        self.runs: dict[int, Run] = {}
        self.ids = itertools.count()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            self.runs[message["id"]].update(message.get("report"), message.get("result"), message.get("error"))

    def start(self, scenario: str, **kwargs: Any) -> Run:
        run_id = next(self.ids)
        run = self.runs[run_id] = Run()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": run_id, "name": scenario, "kwargs": kwargs}) + "\n")
        self.process.stdin.flush()
        return run

    def fetched(self) -> list[str]:
        """Every URL Python fetched in this process."""
        result = self.start("fetched").outcome(10)
        return result  # type: ignore[return-value]

    def close(self) -> None:
        self.process.kill()
        self.process.wait(5)


class ChromiumRuntime:
    """Pyodide in Chromium, on a page of Herald's origin: the session cookie and the browser's ``EventSource``.

    The sync Playwright API cannot be called back, so a ``Run`` pulls its news from the page.
    """

    name, auth_mode = "chromium", "cookie"

    HARNESS = """async (source) => {
      const { loadPyodide } = await import('/static/vendor/pyodide/pyodide.mjs');
      const pyodide = await loadPyodide({ indexURL: '/static/vendor/pyodide/' });
      await pyodide.loadPackage('herald-client', { messageCallback: () => {} });
      pyodide.FS.writeFile('/home/pyodide/scenarios.py', source);
      const scenarios = pyodide.pyimport('scenarios');
      const runs = {};
      window.heraldStart = (id, name, kwargs) => {
        const run = (runs[id] = { reports: [], result: null, error: null });
        scenarios.run(name, kwargs, (text) => run.reports.push(text)).then(
          (json) => { run.result = JSON.parse(json); }, (error) => { run.error = String(error); });
      };
      window.heraldTake = (id) => ({ ...runs[id], reports: runs[id].reports.splice(0) });
    }"""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        page.goto(url + "/healthz")  # any page of the origin: the cookie and EventSource are same-origin
        page.evaluate(self.HARNESS, SCENARIOS.read_text())
        self.ids = itertools.count()

    def start(self, scenario: str, **kwargs: Any) -> Run:
        run_id = next(self.ids)
        run = Run(pump=lambda: self._pump(run_id, run))
        self.page.evaluate("([id, name, kwargs]) => window.heraldStart(id, name, kwargs)",
                           [run_id, scenario, json.dumps(kwargs)])
        return run

    def _pump(self, run_id: int, run: Run) -> None:
        news = self.page.evaluate("(id) => window.heraldTake(id)", run_id)
        for report in news["reports"]:
            run.update(report=report)
        run.update(result=news["result"], error=news["error"])
