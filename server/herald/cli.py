"""The ``herald`` console command: serve, consume, migrate, token."""
from __future__ import annotations

import argparse
import logging
import sys
from logging.config import dictConfig

from herald.settings import Settings, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="herald", description="Self-hosted real-time notifications.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (API, streams, demo page)")
    serve.add_argument("--host", help="interface to bind (HERALD_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (HERALD_PORT)")
    serve.add_argument("--database-url", help="SQLAlchemy async URL (HERALD_DATABASE_URL)")
    serve.add_argument("--redis-url", help="Redis URL for fan-out across processes (HERALD_REDIS_URL)")
    serve.add_argument("--workers", type=int, default=1, help="server processes on this machine (needs Redis when > 1)")

    commands.add_parser("migrate", help="upgrade the database schema (Alembic)")

    consume = commands.add_parser("consume", help="run only the log consumers (HERALD_CONSUME_*), with /readyz and /metrics")
    consume.add_argument("--host", help="interface of the operations endpoints (HERALD_HOST)")
    consume.add_argument("--port", type=int, help="port of the operations endpoints (HERALD_PORT)")
    consume.add_argument("--database-url", help="SQLAlchemy async URL (HERALD_DATABASE_URL)")
    consume.add_argument("--redis-url", help="Redis URL of the fan-out the serving nodes use (HERALD_REDIS_URL)")
    consume.add_argument("--outbox-ddl", action="store_true", help="print the outbox table's SQL and exit")

    token = commands.add_parser("token", help="mint a subscriber token for a user id")
    token.add_argument("user_id")
    token.add_argument("--ttl-seconds", type=int, help="lifetime (default HERALD_TOKEN_TTL_SECONDS)")

    vapid = commands.add_parser("vapid", help="print the Web Push (VAPID) public key, creating the key pair if needed")
    vapid.add_argument("--rotate", action="store_true",
                       help="make a new key pair and delete every push subscription (browsers subscribe again)")

    from herald.admin.cli import add_admin_arguments

    add_admin_arguments(commands.add_parser("admin", help="admin console accounts: create, password"))

    from herald.bench.cli import add_bench_arguments

    add_bench_arguments(commands.add_parser("bench", help="load-test SSE fan-out of a Herald server or a peer"))

    args = parser.parse_args(argv)
    if args.command == "bench":  # a client of any server: this machine's HERALD_* settings do not apply
        from herald.bench.cli import run_bench

        return run_bench(args)
    overrides = {key: value for key, value in vars(args).items() if key in ("host", "port", "database_url", "redis_url")}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    if args.command in ("serve", "consume"):
        from herald.logs import uvicorn_log_config

        # Before anything logs (the migration's imports do): every line in the configured format.
        dictConfig(uvicorn_log_config(settings))
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return _serve(settings, args.workers)
    if args.command == "consume":
        return _consume(settings, outbox_ddl=args.outbox_ddl)
    if args.command == "migrate":
        from herald.db import migrate

        migrate(settings.effective_database_url)
        print("database is up to date")
        return 0
    if args.command == "vapid":
        from herald.push.vapid import vapid_command

        return vapid_command(settings, rotate=args.rotate)
    if args.command == "admin":
        from herald.admin.cli import admin_command

        return admin_command(settings, args)
    from herald.tokens import TokenError, TokenSigner

    try:
        minted = TokenSigner(settings.secret).mint(args.user_id, args.ttl_seconds or settings.token_ttl_seconds)
    except TokenError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    print(minted.token)
    return 0


def _serve(settings: Settings, workers: int) -> int:
    import ipaddress
    import os
    import shutil
    import tempfile

    import uvicorn

    from herald.db import migrate
    from herald.http_server import BoundedHttpToolsProtocol, GoingAwayWebSocketProtocol
    from herald.logs import uvicorn_log_config
    from herald.metrics import MULTIPROC_ENV

    if workers > 1 and not settings.redis_url:
        print("herald: --workers above 1 needs HERALD_REDIS_URL: in-process fan-out serves one process", file=sys.stderr)
        return 2
    from herald.push.service import check_native_push

    try:
        check_native_push(settings)  # a bad FCM or APNs key stops the start here, with its reason
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    log_config = uvicorn_log_config(settings)
    if settings.migrate_on_start:
        migrate(settings.effective_database_url)
    if not settings.is_production:
        logging.getLogger("herald").info("Herald (development) on http://%s:%d/  demo page at /",
                                         settings.host, settings.port)
        if _generated_key(settings):  # generated here: say it (once, on the terminal, not the log)
            print(f"Development API key: {settings.api_keys[0]}", flush=True)
    metrics_dir = None
    if workers > 1:
        # Each worker writes its metrics to files here and /metrics sums them (metrics.py). A fresh
        # private directory: files left by an earlier run would be summed in as well.
        metrics_dir = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="herald-metrics-")
    # Workers are fresh processes that build their settings from the environment:
    # hand them what the flags and the development defaults decided here.
    os.environ.update({
        "HERALD_HOST": settings.host, "HERALD_PORT": str(settings.port), "HERALD_SECRET": settings.secret,
        "HERALD_API_KEYS": ",".join(settings.api_keys), "HERALD_DATABASE_URL": settings.database_url,
        "HERALD_REDIS_URL": settings.redis_url, "HERALD_MIGRATE_ON_START": "false",
    })
    try:
        uvicorn.run(
            "herald.app:app_from_environment", factory=True, host=settings.host, port=settings.port, workers=workers,
            loop="uvloop", http=BoundedHttpToolsProtocol, ws=GoingAwayWebSocketProtocol, log_config=log_config, access_log=settings.access_log,
            # X-Forwarded-For/-Proto from these peers only (uvicorn's default would trust 127.0.0.1):
            # the client address is what the per-address connection limit buckets by.
            forwarded_allow_ips=[str(ipaddress.ip_network(p, strict=False)) for p in settings.trusted_proxies],
            timeout_graceful_shutdown=3,
            # WebSocket liveness: a ping every 30 s, dead without a pong within 10 s (the socket sink keeps
            # these once it owns the socket). A client message is at most 500 ids, so the request body
            # limit bounds it too (uvicorn's default is 16 MiB).
            ws_ping_interval=settings.websocket_ping_seconds, ws_ping_timeout=settings.websocket_pong_timeout_seconds,
            ws_max_size=settings.max_body_bytes,
            # No permessage-deflate: its state is per socket, so no frame could be framed once for all
            # (delivery/websocket_sinks.py); Herald's messages are small JSON, as Node ws decides by default.
            ws_per_message_deflate=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _consume(settings: Settings, *, outbox_ddl: bool = False) -> int:
    """``herald consume``: the consumers on their own, beside ``herald serve`` nodes sharing the database and Redis."""
    if outbox_ddl:
        from herald.consume.outbox import DDL

        print(DDL, end="")
        return 0
    from herald.consume import sources

    if not sources(settings):
        print("herald: no log source is configured: set HERALD_CONSUME_NATS_URL, HERALD_CONSUME_REDIS_URL, "
              "HERALD_CONSUME_OUTBOX_URL or HERALD_CONSUME_KAFKA_BOOTSTRAP_SERVERS (docs/consumers.md)", file=sys.stderr)
        return 2
    if not settings.redis_url:
        # In-process fan-out reaches only this process's connections, and this one serves none.
        print("herald: herald consume in its own process needs HERALD_REDIS_URL, the fan-out of the serving nodes, "
              "or its notifications reach inboxes but no open tab; without Redis, configure the sources on "
              "herald serve instead", file=sys.stderr)
        return 2
    import uvicorn

    from herald.db import migrate
    from herald.logs import uvicorn_log_config

    if settings.migrate_on_start:
        migrate(settings.effective_database_url)
    logging.getLogger("herald").info("Herald consumers (%s); operations endpoints on http://%s:%d/readyz",
                                     ", ".join(s.name for s in sources(settings)), settings.host, settings.port)
    from herald.app import create_consume_app
    from herald.http_server import BoundedHttpToolsProtocol

    # One process (run several for more): the app is built here, from these settings, flags included.
    uvicorn.run(create_consume_app(settings), host=settings.host, port=settings.port, loop="uvloop",
                http=BoundedHttpToolsProtocol, log_config=uvicorn_log_config(settings), access_log=False,
                timeout_graceful_shutdown=3)
    return 0


def _generated_key(settings: Settings) -> bool:
    """Whether the first API key is the development one Herald generated (kept in ``data/dev-api-key``)."""
    from pathlib import Path

    kept = Path(settings.data_dir) / "dev-api-key"
    return kept.is_file() and kept.read_text().strip() == settings.api_keys[0]


if __name__ == "__main__":
    sys.exit(main())
