"""One settings object, built once from ``HERALD_*`` environment variables.

Every field documents its unit in its name. Bad values fail loudly at start
(``SettingsError``) rather than surfacing as odd behaviour under load.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Literal, Mapping

import msgspec

PREFIX = "HERALD_"

# The big browser vendors' push services; production subscriptions must point here.
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "web.push.apple.com",
    "api.push.apple.com",
    "wns2-par02p.notify.windows.com",
    "notify.windows.com",
)


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    env: Literal["development", "production"] = "development"
    """``production`` turns off demo conveniences and requires a secret and API keys."""

    database_url: str = ""
    """SQLAlchemy async URL. Empty: a SQLite file ``herald.db`` in ``data_dir``."""

    redis_url: str = ""
    """Empty: in-process fan-out (one process only). Set: Redis fan-out."""

    secret: str = ""
    """Signing key for subscriber tokens and session cookies. Empty in development: one kept in ``data_dir``."""

    api_keys: tuple[str, ...] = ()
    """Producer API keys (comma-separated in the environment). Empty in development: one kept in ``data_dir``."""

    host: str = "127.0.0.1"
    port: int = 8000

    data_dir: str = "data"
    """Directory for the SQLite file and generated keys."""

    heartbeat_seconds: float = 15.0
    """Longest silence on a stream before a comment line is sent."""

    retry_milliseconds: int = 2000
    """The SSE ``retry:`` hint: how long a browser waits before reconnecting."""

    retention_seconds: int = 30 * 24 * 3600
    """Inbox items older than this are pruned; resuming from before them gives ``reset``."""

    prune_interval_seconds: float = 300.0
    """How often the retention pruner runs."""

    schedule_poll_seconds: float = 0.5
    """How often a node looks for scheduled publishes another node accepted (the node that accepted one wakes
    at its time anyway): how late one can be when that node is down at its time."""

    expiry_sweep_seconds: float = 1.0
    """How often each node removes expired items (``expiresAt``/``ttlSeconds``) from inboxes and live lists."""

    quiet_sweep_seconds: float = 5.0
    """How often each node looks for users whose quiet hours ended with items held, to send their one digest:
    how late a digest can be after the end."""

    presence_ttl_seconds: float = 90.0
    """How long a tab's "visible" report holds (browsers repeat it while visible, every third of this)."""

    group_window_seconds: int = 3600
    """Items with the same ``groupKey`` for one user collapse while the first is unread and younger than this."""

    broadcast_fanout: Literal["read", "write"] = "read"
    """``read``: a publish to ``all`` is stored once and each inbox copies it when next read (broadcasts.py);
    ``write``: one inbox row per recipient before the 202, as before issue 22."""

    connection_queue_limit: int = 1000
    """Events that may wait for one slow connection before it is dropped to a resume from the database."""

    connection_writes_per_second: int = 50
    """Writes one connection gets per second at most; events beyond wait and go out together in the next write."""

    connections_per_user: int = 20
    """Open streams (SSE and WebSocket) one user may hold on one node; a newer one closes the oldest."""

    gap_fill_seconds: float = 1.0
    """How long a connection waits for a missing sequence number on the bus before reading it from the database."""

    token_ttl_seconds: int = 3600
    """Default lifetime of a minted subscriber token."""

    max_token_ttl_seconds: int = 30 * 24 * 3600
    """Longest lifetime a producer may ask for."""

    session_ttl_seconds: int = 7 * 24 * 3600
    """Lifetime of the browser session cookie."""

    max_body_bytes: int = 64 * 1024
    """Largest request body accepted (413 beyond)."""

    max_header_bytes: int = 32 * 1024
    """Largest request head (request line and headers) read before the request is refused (431)."""

    header_timeout_seconds: float = 10.0
    """Longest a client may take to send a request's head; a half-open connection is closed after it (408)."""

    websocket_ping_seconds: float = 30.0
    """How often a WebSocket is pinged (RFC 6455 ping frames, beside the application's heartbeats)."""

    websocket_pong_timeout_seconds: float = 10.0
    """A WebSocket that has not answered a ping within this is closed (1011): a dead peer, a stale NAT entry."""

    idempotency_seconds: int = 24 * 3600
    """How long an ``idempotencyKey`` answers with the first response."""

    push_endpoint_hosts: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    """Hosts a production Web Push subscription may point at (comma-separated)."""

    cors_origins: tuple[str, ...] = ()
    """Other origins whose pages may call the API with credentials (comma-separated). Empty: same origin only."""

    migrate_on_start: bool = True
    """Run the Alembic upgrade when the server starts."""

    vapid_private_key: str = ""
    """VAPID signing key for Web Push: PEM, or the base64url raw 32-byte scalar. Empty: one generated on first start in ``data_dir``."""

    vapid_subject: str = "mailto:herald@localhost"
    """Contact for push services (``mailto:`` or ``https:``); Apple refuses ``localhost``, so set a real one in production."""

    push_priorities: tuple[str, ...] = ("urgent", "high", "medium")
    """Priorities sent by Web Push to users with no live connection (comma-separated); others wait in the inbox."""

    push_ttl_seconds: int = 24 * 3600
    """How long a push service keeps an undelivered push, and how long Herald keeps retrying one."""

    push_max_attempts: int = 8
    """Attempts per push before Herald gives up (the notification stays in the inbox)."""

    push_retry_base_seconds: float = 5.0
    """First retry delay after a 429/5xx or network error; doubles per attempt, with jitter."""

    push_retry_max_seconds: float = 3600.0
    """Longest delay between two attempts of one push."""

    push_timeout_seconds: float = 10.0
    """Time limit of one request to a push service."""

    push_ack_timeout_seconds: float = 30.0
    """How long a push to a user who was online at publish waits for a client's delivered receipt; without one
    by then it is sent as if the user had been offline. 0 turns this off: online users get no push at all."""

    webhook_timeout_seconds: float = 10.0
    """Time limit of one webhook request (connect, send, answer); a slower receiver counts as a failed attempt."""

    webhook_max_attempts: int = 12
    """Attempts per webhook event before it is marked failed (about 2.7 hours with the default delays)."""

    webhook_retry_base_seconds: float = 5.0
    """First retry delay after a non-2xx answer, timeout or connection error; doubles per attempt, with jitter."""

    webhook_retry_max_seconds: float = 3600.0
    """Longest delay between two attempts of one webhook event."""

    webhook_keep_seconds: int = 7 * 24 * 3600
    """How long delivered and failed webhook events, and their attempts, stay listed in the admin."""

    push_icon_url: str = "/api/push/icon.png"
    """Icon of system notifications; set your product's logo URL."""

    fcm_credentials_file: str = ""
    """Firebase service-account key (the JSON file Google gives). Empty: no FCM pushes, and FCM devices are refused."""

    fcm_endpoint: str = "https://fcm.googleapis.com"
    """Base URL of the FCM HTTP v1 API (a test server in tests). The OAuth2 token URL is the key file's ``token_uri``."""

    apns_key_file: str = ""
    """APNs token-auth signing key (the ``AuthKey_<id>.p8`` file Apple gives). Empty: no APNs pushes."""

    apns_key_id: str = ""
    """The 10-character id of that key (``kid`` of the provider token)."""

    apns_team_id: str = ""
    """The 10-character Apple Developer team id (``iss`` of the provider token)."""

    apns_topic: tuple[str, ...] = ()
    """Bundle ids Herald pushes to (comma-separated); an APNs device's ``app`` must be one of them."""

    apns_environment: Literal["production", "sandbox"] = "production"
    """``sandbox`` for development builds of the app (their tokens only work there)."""

    apns_endpoint: str = ""
    """Override of the APNs base URL (a test server); empty: Apple's for ``apns_environment``."""

    apns_ca_file: str = ""
    """A CA bundle the APNs connection trusts instead of the system's (for a test server)."""

    publish_rate_per_second: float = 200.0
    """Publishes one API key (or one admin) may make per second, sustained; 429 beyond. 0: no limit."""

    publish_burst: int = 1000
    """Publishes one API key may make at once before ``publish_rate_per_second`` applies."""

    connect_rate_per_second: float = 500.0
    """New subscriber connections (stream, WebSocket, long poll) per second per node (per process without Redis). 0: no limit."""

    connect_burst: int = 2000
    """New connections a node takes at once, e.g. right after a restart, before ``connect_rate_per_second`` applies."""

    connect_address_rate_per_second: float = 50.0
    """New subscriber connections per second from one client address (an IPv6 /64 counts as one). 0: no limit."""

    connect_address_burst: int = 500
    """New connections one client address may open at once (one office behind NAT is one address)."""

    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or CIDR networks, comma-separated) whose ``X-Forwarded-For`` names the client. Empty: the socket peer is the client."""

    recipient_live_per_minute: int = 30
    """New notifications per minute one user gets as toasts and pushes; beyond, they arrive quiet and one digest
    ("12 new notifications") stands for them. Every one is still in the inbox. 0: no limit."""

    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (for log shippers); ``text``: readable lines for development."""

    access_log: bool = True
    """Log one line per HTTP request (method, path, status, request id) and per WebSocket handshake."""

    # Log consumers (herald.consume, docs/consumers.md): each source is on when its address is set.

    consume_nats_url: str = ""
    """NATS server(s) to consume JetStream from (``nats://host:4222``, comma-separated in one URL). Empty: off."""

    consume_nats_stream: str = "HERALD"
    """JetStream stream to read; created (file storage) with ``consume_nats_subjects`` if missing."""

    consume_nats_subjects: tuple[str, ...] = ("herald.notify.>",)
    """Subjects of the stream when Herald creates it (comma-separated). Put the user id in a token to keep order."""

    consume_nats_durable: str = "herald"
    """Durable pull consumer shared by every Herald node: one name, one consumer group."""

    consume_nats_filter_subject: str = ""
    """Only messages on this subject (wildcards allowed). Empty: the whole stream."""

    consume_nats_ack_wait_seconds: float = 30.0
    """A message held this long without an ack (a dead node) is delivered again, to any node."""

    consume_redis_url: str = ""
    """Redis to consume streams from (may be the fan-out Redis). Empty: off."""

    consume_redis_streams: tuple[str, ...] = ("herald:notify",)
    """Streams to read (comma-separated), e.g. one per shard; each is created with the group if missing."""

    consume_redis_group: str = "herald"
    """Consumer group shared by every Herald node."""

    consume_redis_claim_idle_seconds: float = 30.0
    """An entry pending this long on another consumer (a dead node) is claimed with XAUTOCLAIM."""

    consume_outbox_url: str = ""
    """PostgreSQL database holding the ``herald_outbox`` table (``postgresql://...``). Empty: off."""

    consume_kafka_bootstrap_servers: tuple[str, ...] = ()
    """Kafka brokers (``host:port``, comma-separated). Empty: off."""

    consume_kafka_topics: tuple[str, ...] = ("herald.notify",)
    """Topics to read (comma-separated)."""

    consume_kafka_group: str = "herald"
    """Kafka consumer group shared by every Herald node."""

    consume_name: str = ""
    """This node's stable name in Redis and Kafka groups (also its Kafka static membership id): a node restarted
    under the same name resumes its own pending messages at once. Empty: host name and process id."""

    consume_batch_size: int = 100
    """Messages taken from a source at once; the next batch is taken when this one is published."""

    consume_concurrency: int = 16
    """Ordering keys published side by side; one key's messages always go one at a time."""

    consume_poll_seconds: float = 1.0
    """Longest a fetch waits for a new message (and how often the outbox is polled besides NOTIFY)."""

    consume_retry_base_seconds: float = 0.5
    """First wait after a failure (source or database down); doubles per attempt, with jitter."""

    consume_retry_max_seconds: float = 30.0
    """Longest wait between two attempts."""

    consume_max_attempts: int = 5
    """Attempts of a message failing for an unknown reason before it is dead-lettered. Outages never count."""

    consume_lag_interval_seconds: float = 5.0
    """How often each source's lag (messages behind, age of the oldest) is read for /metrics."""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir).resolve() / 'herald.db'}"


_TUPLE_FIELDS = {"api_keys", "push_endpoint_hosts", "cors_origins", "push_priorities", "trusted_proxies",
                 "consume_nats_subjects", "consume_redis_streams", "consume_kafka_bootstrap_servers",
                 "consume_kafka_topics", "apns_topic"}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the environment, then apply ``overrides`` (from command-line flags)."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field in msgspec.structs.fields(Settings):
        value = environ.get(PREFIX + field.name.upper())
        if value is None:
            continue
        if field.name in _TUPLE_FIELDS:
            raw[field.name] = tuple(part.strip() for part in value.split(",") if part.strip())
        else:
            raw[field.name] = value
    raw.update({key: value for key, value in overrides.items() if value is not None})
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"bad configuration: {exc} (environment variable {PREFIX}<FIELD>)") from exc
    return _check(settings)


def _check(settings: Settings) -> Settings:
    positive = ("heartbeat_seconds", "retention_seconds", "group_window_seconds", "connection_queue_limit",
                "token_ttl_seconds", "session_ttl_seconds", "max_body_bytes", "max_header_bytes",
                "header_timeout_seconds", "websocket_ping_seconds", "websocket_pong_timeout_seconds",
                "prune_interval_seconds", "schedule_poll_seconds",
                "expiry_sweep_seconds", "quiet_sweep_seconds", "presence_ttl_seconds",
                "gap_fill_seconds", "retry_milliseconds", "connection_writes_per_second", "connections_per_user")
    for name in positive:
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be positive")
    if not 0 < settings.port < 65536:
        raise SettingsError(f"{PREFIX}PORT must be between 1 and 65535")
    if settings.is_production:
        if len(settings.secret) < 32:
            raise SettingsError(f"{PREFIX}SECRET of at least 32 characters is required in production")
        if not settings.api_keys:
            raise SettingsError(f"{PREFIX}API_KEYS is required in production")
    _check_push(settings)
    _check_limits(settings)
    _check_consume(settings)
    for name in ("webhook_timeout_seconds", "webhook_max_attempts", "webhook_retry_base_seconds",
                 "webhook_retry_max_seconds", "webhook_keep_seconds"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be positive")
    if settings.secret and len(settings.secret) < 32:
        # HS256 wants a key at least as long as its output (RFC 7518 section 3.2).
        raise SettingsError(f"{PREFIX}SECRET must be at least 32 characters")
    if not settings.secret:
        # Development only: kept in the data directory so that sessions survive a restart.
        settings = msgspec.structs.replace(settings, secret=_persistent_value(settings, "dev-secret"))
    if not settings.api_keys and not settings.is_production:
        settings = msgspec.structs.replace(settings, api_keys=(_persistent_value(settings, "dev-api-key"),))
    return settings


def _persistent_value(settings: Settings, name: str) -> str:
    path = Path(settings.data_dir) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _check_push(settings: Settings) -> None:
    for name in ("push_ttl_seconds", "push_max_attempts", "push_retry_base_seconds", "push_retry_max_seconds",
                 "push_timeout_seconds"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be positive")
    if settings.push_ack_timeout_seconds < 0:
        raise SettingsError(f"{PREFIX}PUSH_ACK_TIMEOUT_SECONDS must be 0 (off) or positive")
    unknown = set(settings.push_priorities) - {"urgent", "high", "medium", "low"}
    if unknown:
        raise SettingsError(f"{PREFIX}PUSH_PRIORITIES may only name urgent, high, medium and low, not {sorted(unknown)}")
    if not settings.vapid_subject.startswith(("mailto:", "https://")):
        raise SettingsError(f"{PREFIX}VAPID_SUBJECT must be a mailto: or https: URL")
    _check_native_push(settings)


_APPLE_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,154}")


def _check_native_push(settings: Settings) -> None:
    """The shape of the FCM and APNs settings; the key files themselves are read by push/fcm.py and push/apns.py."""
    if settings.fcm_credentials_file and not settings.fcm_endpoint.startswith(("https://", "http://")):
        raise SettingsError(f"{PREFIX}FCM_ENDPOINT must be an http(s) URL")
    apns = ("apns_key_id", "apns_team_id", "apns_topic")
    if not settings.apns_key_file:
        given = [f"{PREFIX}{name.upper()}" for name in apns if getattr(settings, name)]
        if given:
            raise SettingsError(f"{', '.join(given)} set without {PREFIX}APNS_KEY_FILE: APNs needs its signing key")
        return
    for name in ("apns_key_id", "apns_team_id"):
        if not _APPLE_ID.fullmatch(getattr(settings, name)):
            raise SettingsError(f"{PREFIX}{name.upper()} must be Apple's 10-character id (capital letters and digits)")
    if not settings.apns_topic:
        raise SettingsError(f"{PREFIX}APNS_TOPIC (the app's bundle id) is required with {PREFIX}APNS_KEY_FILE")
    for topic in settings.apns_topic:
        if not _BUNDLE_ID.fullmatch(topic):
            raise SettingsError(f"{PREFIX}APNS_TOPIC: {topic!r} is not a bundle id")
    if settings.apns_endpoint and not settings.apns_endpoint.startswith("https://"):
        raise SettingsError(f"{PREFIX}APNS_ENDPOINT must be an https URL: APNs is HTTP/2 over TLS only")


def _check_limits(settings: Settings) -> None:
    import ipaddress

    for name in ("publish_rate_per_second", "publish_burst", "connect_rate_per_second", "connect_burst",
                 "connect_address_rate_per_second", "connect_address_burst", "recipient_live_per_minute"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be 0 (no limit) or positive")
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(f"{PREFIX}TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR network") from None


def _check_consume(settings: Settings) -> None:
    for name in ("consume_batch_size", "consume_concurrency", "consume_poll_seconds", "consume_retry_base_seconds",
                 "consume_retry_max_seconds", "consume_max_attempts", "consume_lag_interval_seconds",
                 "consume_nats_ack_wait_seconds", "consume_redis_claim_idle_seconds"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be positive")
    if settings.consume_retry_max_seconds < settings.consume_retry_base_seconds:
        raise SettingsError(f"{PREFIX}CONSUME_RETRY_MAX_SECONDS must be at least {PREFIX}CONSUME_RETRY_BASE_SECONDS")
    if settings.consume_nats_url and not settings.consume_nats_url.startswith(("nats://", "tls://", "ws://", "wss://")):
        raise SettingsError(f"{PREFIX}CONSUME_NATS_URL must be a nats:// (or tls://, ws://, wss://) URL")
    if settings.consume_nats_url and not (settings.consume_nats_subjects and settings.consume_nats_stream.strip()):
        raise SettingsError(f"{PREFIX}CONSUME_NATS_STREAM and {PREFIX}CONSUME_NATS_SUBJECTS must not be empty")
    for name in ("consume_nats_stream", "consume_nats_durable"):
        if any(ch in getattr(settings, name) for ch in " .*>\t\r\n"):
            raise SettingsError(f"{PREFIX}{name.upper()} must not contain spaces, '.', '*' or '>'")
    if settings.consume_redis_url and not settings.consume_redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{PREFIX}CONSUME_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if settings.consume_redis_url and not settings.consume_redis_streams:
        raise SettingsError(f"{PREFIX}CONSUME_REDIS_STREAMS must name at least one stream")
    if settings.consume_outbox_url and not settings.consume_outbox_url.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://")):
        raise SettingsError(f"{PREFIX}CONSUME_OUTBOX_URL must be a postgresql:// URL (the outbox uses LISTEN/NOTIFY "
                            "and FOR UPDATE SKIP LOCKED)")
    if settings.consume_kafka_bootstrap_servers and not settings.consume_kafka_topics:
        raise SettingsError(f"{PREFIX}CONSUME_KAFKA_TOPICS must name at least one topic")
    for server in settings.consume_kafka_bootstrap_servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(f"{PREFIX}CONSUME_KAFKA_BOOTSTRAP_SERVERS: {server!r} is not host:port")
