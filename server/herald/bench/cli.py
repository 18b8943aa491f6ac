"""``herald bench``: SSE or WebSocket fan-out load against a Herald server or a peer, reported as one JSON line.

This module is the command line; ``fanout.py`` is the coordinator, ``load.py``
the load processes, ``targets.py`` what is measured (Herald or a peer),
``publish.py`` publish throughput, ``report.py`` the numbers.

The coordinator (this process) prepares the target, starts load processes
(``load``) that each hold up to 15,000 streams from source addresses
127.0.0.1, 127.0.0.2, ... (a process may open 20,000 files here, and one source
address has about 28,000 ports), then publishes: broadcasts one after the other
(``--broadcasts``, like ``shared/bench/fanout_probe.py``) or notifications to
random users at a fixed rate (``--rate``). Latency is publish-to-receive: from
just before the publish request is written to the moment a stream reads it,
so for Herald it includes persisting every inbox item before the 202.
"""
from __future__ import annotations

import argparse
import sys

from herald.bench.load import CONNECTIONS_PER_PROCESS, CONNECTIONS_PER_SOURCE_ADDRESS
from herald.bench.report import format_report


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Open N SSE streams from several processes, publish broadcasts (or at a rate), and print "
                          "deliveries/s, latency percentiles, connection errors and server memory per stream as JSON. "
                          "Run it on the server's machine: latencies compare the two processes' clocks.")
    parser.add_argument("--target", choices=("herald", "peer"), required=True,
                        help="herald: the Herald API; peer: the fanout_probe protocol (GET /events, POST /publish)")
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", default="", help="producer API key (--target herald)")
    parser.add_argument("--connections", type=int, default=1000, help="SSE streams to open (default 1000)")
    parser.add_argument("--users", type=int, help="distinct users (herald; default one per connection)")
    parser.add_argument("--audience", choices=("group", "all", "channel"), default="group",
                        help="herald broadcasts: to bench groups of <= 10,000 users (one publish each), "
                             "{\"to\": {\"all\": true}} (one publish; only on a dedicated fresh server), "
                             "or a live channel every stream joins (\"persist\": false: the fan-out alone)")
    parser.add_argument("--transport", choices=("sse", "websocket"), default="sse",
                        help="the stream transport, of Herald or of a peer (the WebSocket peer protocol of shared/bench/fanout_probe_ws.py; default sse)")
    parser.add_argument("--secret", default="",
                        help="herald: the server's HERALD_SECRET, to mint subscriber tokens here instead of one "
                             "POST /api/tokens each (for big runs; users are made known through the bench groups)")
    parser.add_argument("--broadcasts", type=int, default=10, help="broadcast mode: how many (default 10)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between broadcasts (default 0.3)")
    parser.add_argument("--rate", type=float, help="rate mode: publishes per second to random users; with "
                                                   "--publish-throughput: publishes per second, reporting 202 latency")
    parser.add_argument("--duration", type=float, default=10.0, help="rate mode: seconds of publishing (default 10)")
    parser.add_argument("--open-publish-rate", type=float,
                        help="herald: publish this many per second to random users while the streams open, so "
                             "opens_per_s is measured under publishing (not counted as deliveries)")
    parser.add_argument("--publishers", type=int, default=8, help="rate mode: publish connections (default 8)")
    parser.add_argument("--processes", type=int, help=f"load processes (default: <= {CONNECTIONS_PER_PROCESS:,} streams each)")
    parser.add_argument("--source-addresses", default="",
                        help="count N for 127.0.0.1..N, or a comma list of IPs (default: one per "
                             f"{CONNECTIONS_PER_SOURCE_ADDRESS:,} streams for a loopback URL, none otherwise)")
    parser.add_argument("--connect-concurrency", type=int, default=256, help="stream opens in flight per process")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="seconds for one stream to open (Herald: to send its ready event)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for one broadcast to reach every stream")
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds after opening, before measuring")
    parser.add_argument("--server-pid", type=int, help="server PID: report RSS of it and its children per stream")
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.add_argument("--publish-throughput", action="store_true",
                        help="herald: measure persisted notifications per second instead (no streams)")
    parser.add_argument("--group-size", type=int, default=10_000, help="publish throughput: recipients per publish; "
                                                                      "1 = single-user publishes")
    parser.add_argument("--count", type=int, default=20, help="publish throughput: publishes (default 20)")
    parser.add_argument("--concurrency", type=int, default=1, help="publish throughput: publishes in flight")


def run_bench(args: argparse.Namespace) -> int:
    import uvloop

    from herald.bench.targets import BenchError

    try:
        if args.publish_throughput:
            from herald.bench.publish import measure_publish_throughput

            report = uvloop.run(measure_publish_throughput(args))
        else:
            from herald.bench.fanout import measure_fanout

            report = uvloop.run(measure_fanout(args))
    except BenchError as exc:
        print(f"herald bench: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"herald bench: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(format_report(report, args.format), flush=True)
    return 0
