"""Herald beside its peers in one run: fresh servers one after the other, the same `herald bench` against each.

    python scripts/bench_fanout.py --connections 1000,8000,16000 \
        --servers herald,node_raw_sse,litestar_naive,sse_starlette --broadcasts 10 --gap 0.3

For each connection count and each server: start it fresh (Herald: `herald
serve` on a new SQLite data directory, or a new PostgreSQL database with
`--database postgres`; peers: from ../shared/bench/peers), run `herald bench`
against it with --server-pid, stop it. Every server started is stopped, also
on errors and Ctrl-C. Writes results.json, results.md and latency.png
(p50 and p99 against connections, one line per server) into --out.

Needs: pip install -e ".[bench]" (matplotlib, sse-starlette), node for node_raw_sse.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEERS = ROOT.parent / "shared" / "bench" / "peers"
POSTGRES_ADMIN_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# Herald's variants: inbox broadcasts (persisted) or a live channel ("persist": false: the fan-out
# alone, as the peers do it), over SSE or WebSocket.
# The _redis ones fan out through Redis (HERALD_REDIS_URL), as several processes or nodes do: beside
# their in-process twins they show what the Redis hop adds.
HERALD_VARIANTS = {"herald": ("sse", "all"), "herald_live": ("sse", "channel"),
                   "herald_ws": ("websocket", "all"), "herald_ws_live": ("websocket", "channel"),
                   "herald_redis": ("sse", "all"), "herald_live_redis": ("sse", "channel"),
                   # The per-recipient path that fan-out on read replaced (HERALD_BROADCAST_FANOUT=write, issue 22).
                   "herald_rows": ("sse", "all"), "herald_ws_rows": ("websocket", "all")}
REDIS_URL = os.environ.get("HERALD_BENCH_REDIS", "redis://127.0.0.1:6379/15")
# Peers over WebSocket speak the WebSocket peer protocol (shared/bench/fanout_probe_ws.py).
WEBSOCKET_PEERS = {"node_ws": "node_ws.js", "websockets_peer": "websockets_peer.py"}
SERVERS = (*HERALD_VARIANTS, "node_raw_sse", "litestar_naive", "sse_starlette", "uvloop_raw_sse", *WEBSOCKET_PEERS)
UVICORN_PEERS = {"litestar_naive": "litestar_naive_app:app", "sse_starlette": "sse_starlette_app:app"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-q", "-c", sql], check=True, capture_output=True)


class Server:
    """One server process: started fresh, stopped for sure (see ``stop``)."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None,
                 ready_path: str | None = None, cwd: Path | None = None, api_key: str = "") -> None:
        self.name, self.command, self.log_path, self.env, self.cwd = name, command, log_path, env, cwd
        self.ready_path, self.api_key, self.secret = ready_path, api_key, ""
        self.port = int(command[command.index("--port") + 1]) if "--port" in command else int(command[-1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.cleanups: list[Any] = []

    def start(self, timeout: float = 60.0) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            if self._ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:g} s; see {self.log_path}")

    def _ready(self) -> bool:
        try:
            if self.ready_path is None:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        while self.cleanups:
            try:
                self.cleanups.pop()()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"cleanup after {self.name} failed: {exc}", file=sys.stderr)


def herald_server(logs: Path, database: str, postgres_admin_url: str, redis: bool = False, workers: int = 1,
                  broadcast_fanout: str = "read") -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    port, api_key, secret = free_port(), "bench-" + secrets.token_hex(12), secrets.token_hex(32)
    database_url = ""
    if database == "postgres":
        name = f"herald_bench_{os.getpid()}_{secrets.token_hex(3)}"
        psql(postgres_admin_url, f'CREATE DATABASE "{name}"')
        database_url = postgres_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    env = {**os.environ, "HERALD_DATA_DIR": str(data_dir), "HERALD_API_KEYS": api_key,
           "HERALD_SECRET": secret, "HERALD_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
           "HERALD_REDIS_URL": REDIS_URL if redis else "",
           # The load comes from a few local addresses at a rate no real client has: the protective
           # limits (docs/operations.md#rate-limits) would refuse it, so they are off; so is the access log.
           "HERALD_PUBLISH_RATE_PER_SECOND": "0", "HERALD_CONNECT_RATE_PER_SECOND": "0",
           "HERALD_CONNECT_ADDRESS_RATE_PER_SECOND": "0", "HERALD_RECIPIENT_LIVE_PER_MINUTE": "0",
           "HERALD_ACCESS_LOG": "false", "HERALD_BROADCAST_FANOUT": broadcast_fanout}
    server = Server("herald", [sys.executable, "-m", "herald.cli", "serve", "--workers", str(workers), "--port", str(port)],
                    logs / f"herald-{port}.log", env=env, ready_path="/readyz", api_key=api_key)
    server.secret = secret
    server.cleanups.append(lambda: shutil.rmtree(data_dir, ignore_errors=True))
    if database_url:
        server.cleanups.append(lambda: psql(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return server


def peer_server(name: str, peers: Path, logs: Path) -> Server:
    port = str(free_port())
    if name in ("node_raw_sse", "node_ws"):
        # node_ws needs the vendored `ws` package: node resolves it from peers/node_modules.
        command = ["node", str(peers / f"{name}.js"), port]
    elif name in ("uvloop_raw_sse", "websockets_peer"):
        command = [sys.executable, str(peers / f"{name}.py"), port]
    else:
        command = [sys.executable, "-m", "uvicorn", UVICORN_PEERS[name], "--app-dir", str(peers), "--port", port,
                   "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return Server(name, command, logs / f"{name}-{port}.log")


def run_bench(server: Server, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "herald.cli", "bench", "--url", server.url, "--connections", str(connections),
               "--broadcasts", str(args.broadcasts), "--gap", str(args.gap), "--server-pid", str(server.pid),
               "--timeout", str(args.timeout)]
    if args.rate:
        command += ["--rate", str(args.rate), "--duration", str(args.duration)]
    if server.name in HERALD_VARIANTS:
        # A fresh server holds only the bench users: one publish per broadcast, whatever the count.
        # Tokens are minted here with the server's secret: setup is not what is measured.
        transport, audience = HERALD_VARIANTS[server.name]
        command += ["--target", "herald", "--api-key", server.api_key, "--audience", audience,
                    "--transport", transport, "--secret", server.secret]
    else:
        command += ["--target", "peer", "--transport", "websocket" if server.name in WEBSOCKET_PEERS else "sse"]
    if args.processes:
        command += ["--processes", str(args.processes)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout * (args.broadcasts + 2) + 600)
    if result.returncode != 0 or not result.stdout.strip():
        return {"failure": (result.stderr or result.stdout).strip()[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() if shutil.which("node") else None
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "node": node, "date": time.strftime("%Y-%m-%d %H:%M %Z")}


FIGURES = ("deliveries_per_s", "p50_ms", "p99_ms", "max_ms", "rss_per_connection_kb", "load_average_before")


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (connections, server): the median of each figure over the rounds, and their spread.

    On a shared machine one run can be 30 % off the next: the rounds are interleaved
    (every server once, then again), so each median compares servers measured alike.
    """
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["connections"], r["server"]), []).append(r)
    rows = []
    for (connections, server), runs in groups.items():
        ok = [r for r in runs if "failure" not in r and r.get("deliveries_per_s")]
        row: dict[str, Any] = {"connections": connections, "server": server, "rounds": len(runs), "complete": len(ok)}
        for key in ("connected", "errors", "dropped", *FIGURES):
            values = [r[key] for r in ok if r.get(key) is not None]
            if values:
                median = statistics.median(values)
                row[key] = round(median, 2) if isinstance(median, float) else median
        for key in ("deliveries_per_s", "p99_ms"):
            values = [r[key] for r in ok if r.get(key) is not None]
            if len(values) > 1:
                row[key + "_range"] = (min(values), max(values))
        failures = [r["failure"] for r in runs if "failure" in r]
        if failures:
            row["failure"] = failures[-1]
        rows.append(row)
    return rows


def markdown(results: list[dict[str, Any]], info: dict[str, Any], command: str) -> str:
    rows = summarize(results)
    rounds = max((r["rounds"] for r in rows), default=1)
    lines = [f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), Python {info['python']}, "
             f"Node {info['node']}." + (f" Medians of {rounds} interleaved rounds; the range is min–max." if rounds > 1 else ""),
             "", f"    {command}", "",
             "| connections | server | connected | errors | dropped | deliveries/s | p50 ms | p99 ms | max ms "
             "| RSS per connection KB | load avg | note |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

    def cell(r: dict[str, Any], key: str) -> str:
        if r.get(key) is None:
            return "-"
        text = f"{r[key]:,}"
        spread = r.get(key + "_range")
        return f"{text} ({spread[0]:,}–{spread[1]:,})" if spread else text

    for r in rows:
        cells = [f"{r['connections']:,}", r["server"]]
        cells += [cell(r, k) for k in ("connected", "errors", "dropped", *FIGURES)]
        note = r.get("failure", "").strip().splitlines()
        cells.append(f"incomplete: {note[-1][:100]}" if note else "")
        if r["complete"] < r["rounds"]:
            cells[-1] = f"{r['complete']} of {r['rounds']} rounds complete; " + cells[-1]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path, info: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = summarize(results)
    fig, ax = plt.subplots(figsize=(8, 5))
    for index, name in enumerate(dict.fromkeys(r["server"] for r in results)):
        # An incomplete run's latencies cover only the deliveries that happened: leave it out.
        rows = sorted((r for r in results if r["server"] == name and r.get("p99_ms") is not None and "failure" not in r),
                      key=lambda r: r["connections"])
        if not rows:
            continue
        x = [r["connections"] for r in rows]
        color = f"C{index}"
        ax.plot(x, [r["p99_ms"] for r in rows], "o-", color=color, label=f"{name} p99")
        ax.plot(x, [r["p50_ms"] for r in rows], "o--", color=color, alpha=0.6, label=f"{name} p50")
    ax.set_xlabel("SSE connections (one server process)")
    ax.set_ylabel("publish-to-receive latency, ms (log)")
    ax.set_yscale("log")
    ax.set_title(f"Broadcast fan-out latency, {info['cores']} cores, {info['date']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="1000,8000,16000", help="comma list of connection counts")
    parser.add_argument("--servers", default="herald,node_raw_sse,litestar_naive,sse_starlette",
                        help=f"comma list from {', '.join(SERVERS)}")
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument("--rate", type=float, help="publishes per second to random users instead of broadcasts "
                                                   "(herald variants: one notification, one stream, each)")
    parser.add_argument("--duration", type=float, default=20.0, help="with --rate: seconds of publishing")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds: every server at every count, then again; the tables show medians")
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for one broadcast to reach every stream")
    parser.add_argument("--processes", type=int, help="load processes per bench (default: herald bench decides)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite", help="Herald's database")
    parser.add_argument("--workers", type=int, default=1,
                        help="herald serve --workers for the _redis variants (one process may hold 20,000 files)")
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL, help="where fresh databases are created")
    parser.add_argument("--peers-dir", type=Path, default=DEFAULT_PEERS)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "herald-bench" / time.strftime("fanout-%Y%m%d-%H%M%S"))
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",") if c.strip()]
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if set(names) - set(HERALD_VARIANTS) and not args.peers_dir.is_dir():
        parser.error(f"peers not found in {args.peers_dir} (--peers-dir)")
    if "node_raw_sse" in names and not shutil.which("node"):
        parser.error("node_raw_sse needs node on PATH")
    # SIGTERM runs the finally blocks too, so no server outlives the runner.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    args.out.mkdir(parents=True, exist_ok=True)
    info, results = machine(), []
    command = "python scripts/bench_fanout.py " + " ".join(sys.argv[1:])
    if args.workers > 1 and not any(name.endswith("_redis") for name in names):
        parser.error("--workers needs a _redis variant: in-process fan-out serves one process")
    runs = [(round_, connections, name) for round_ in range(max(1, args.repeat)) for connections in counts
            for name in names]
    for round_, connections, name in runs:
        server = (herald_server(args.out / "logs", args.database, args.postgres_admin_url, name.endswith("_redis"),
                                args.workers if name.endswith("_redis") else 1,
                                "write" if name.endswith("_rows") else "read")
                  if name in HERALD_VARIANTS else peer_server(name, args.peers_dir, args.out / "logs"))
        server.name = name
        load_average = os.getloadavg()[0]  # others' work on the machine shows up in the figures
        if load_average > 0.5:
            print(f"warning: load average {load_average:.1f} before {name} at {connections:,}: figures will be noisy",
                  file=sys.stderr)
        try:
            server.start()
            report = run_bench(server, connections, args)
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            report = {"failure": str(exc)}
        finally:
            server.stop()
        report = {"server": name, **report, "connections": connections, "round": round_,
                  "load_average_before": round(load_average, 2)}
        if name in HERALD_VARIANTS:
            report["database"] = args.database
        results.append(report)
        print(json.dumps(report), file=sys.stderr, flush=True)
        (args.out / "results.json").write_text(json.dumps({"machine": info, "command": command, "results": results}, indent=1))
    (args.out / "results.md").write_text(markdown(results, info, command))
    try:
        plot(results, args.out / "latency.png", info)
    except ImportError:
        print("matplotlib is missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
    print(markdown(results, info, command))
    print(f"results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
