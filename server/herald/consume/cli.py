"""``herald consume``: the consumers on their own, beside ``herald serve`` nodes that share the database and Redis."""
from __future__ import annotations

import logging
import sys

from herald.settings import Settings


def consume_command(settings: Settings, *, outbox_ddl: bool = False) -> int:
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
    from herald.consume.process import create_consume_app

    # One process (run several for more): the app is built here, from these settings, flags included.
    uvicorn.run(create_consume_app(settings), host=settings.host, port=settings.port, loop="uvloop",
                log_config=uvicorn_log_config(settings), access_log=False, timeout_graceful_shutdown=3)
    return 0
