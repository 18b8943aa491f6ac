"""The ``herald`` console command: serve, migrate, token."""
from __future__ import annotations

import argparse
import logging
import sys

from herald.settings import Settings, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="herald", description="Self-hosted real-time notifications.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (API, streams, demo page)")
    serve.add_argument("--host", help="interface to bind (HERALD_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (HERALD_PORT)")
    serve.add_argument("--database-url", help="SQLAlchemy async URL (HERALD_DATABASE_URL)")
    serve.add_argument("--redis-url", help="Redis URL for fan-out across processes (HERALD_REDIS_URL)")

    commands.add_parser("migrate", help="upgrade the database schema (Alembic)")

    token = commands.add_parser("token", help="mint a subscriber token for a user id")
    token.add_argument("user_id")
    token.add_argument("--ttl-seconds", type=int, help="lifetime (default HERALD_TOKEN_TTL_SECONDS)")

    vapid = commands.add_parser("vapid", help="print the Web Push (VAPID) public key, creating the key pair if needed")
    vapid.add_argument("--rotate", action="store_true",
                       help="make a new key pair and delete every push subscription (browsers subscribe again)")

    args = parser.parse_args(argv)
    overrides = {key: value for key, value in vars(args).items() if key in ("host", "port", "database_url", "redis_url")}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        from herald.db import migrate

        migrate(settings.effective_database_url)
        print("database is up to date")
        return 0
    if args.command == "vapid":
        from herald.push_vapid import vapid_command

        return vapid_command(settings, rotate=args.rotate)
    from herald.tokens import TokenError, TokenSigner

    try:
        minted = TokenSigner(settings.secret).mint(args.user_id, args.ttl_seconds or settings.token_ttl_seconds)
    except TokenError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    print(minted.token)
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    from herald.app import create_app
    from herald.db import migrate

    if settings.migrate_on_start:
        migrate(settings.effective_database_url)
    if not settings.is_production:
        print(f"Herald (development) on http://{settings.host}:{settings.port}/  demo page at /", flush=True)
        print(f"Development API key: {settings.api_keys[0]}", flush=True)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        log_level="info", access_log=False, timeout_graceful_shutdown=3,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
