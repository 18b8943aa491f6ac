"""Tables. The database is the one source of truth for history; the bus is live-only.

SQLite and PostgreSQL share these definitions, one code path and one set of
Alembic migrations. Times are integer milliseconds since the epoch, the unit
the wire format uses, so nothing is converted on the hot path.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per known user. ``last_seq`` is the per-user sequence: every new or
# updated inbox item takes ``last_seq + 1`` under the row's lock, so committed
# sequence numbers are contiguous. ``pruned_seq`` is the highest sequence number
# retention has deleted: a resume from below it cannot be exact and gets ``reset``.
users = Table(
    "users",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("pruned_seq", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    # Issue 22: the highest broadcast (``broadcasts.bseq``) already copied into this inbox (broadcasts.py).
    Column("broadcast_mark", BigInteger, nullable=False, default=0, server_default="0"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("priority", String(8), nullable=False),
    Column("group_key", String(200)),
    Column("url", String(2048)),
    Column("data", JSON(none_as_null=True)),
    Column("actor", String(100)),
    Column("target", JSON, nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("producer", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
    # Filled in shortly after the publish by admin_delivery.DeliveryLog; null: not recorded.
    Column("live_recipients", Integer),
    Column("push_queued", Integer),
    # Issue 18: the producer's replace key, ``"silent": true`` (no toast, no push), when the
    # notification leaves every inbox on its own (retraction.py sweeps), and when it was retracted.
    Column("replace_key", String(200)),
    Column("silent", Boolean),
    Column("expires_at", BigInteger, index=True),
    Column("retracted_at", BigInteger),
    # Issue 17: pictures shown with the item, checked like push endpoints on publish (wire.check_images).
    Column("avatar_url", String(2048)),
    Column("image_url", String(2048)),
    # Issue 17: the producer's category (tabs, preferences) and up to 3 action buttons.
    Column("category", String(64)),
    Column("actions", JSON(none_as_null=True)),
)

# An item in one user's inbox. Its ``id`` is the id of the notification that
# created it and stays stable when later notifications of the same group update
# it in place; each update takes a new ``seq`` so that a resume replays it.
# ``delivered_at`` is when a client first acknowledged the item's current
# version (receipts.py); an update in place clears it, since that version has
# not reached anyone yet.
inbox_items = Table(
    "inbox_items",
    metadata,
    Column("user_id", String(128), nullable=False),
    Column("id", String(26), nullable=False),
    Column("seq", BigInteger, nullable=False),
    # No foreign key on purpose: one publish writes the notification and its items in one
    # transaction, and a row-level FK check per item doubled the cost of large fan-outs.
    Column("notification_id", String(26), nullable=False),
    Column("group_key", String(200)),
    Column("group_count", Integer, nullable=False, default=1),
    Column("actors", JSON(none_as_null=True)),
    Column("read", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger),
    # The producer's replace key: a later publish with the same key updates this item in place.
    Column("replace_key", String(200)),
    # Issue 17, triage (triage.py): seen in an open list, archived, snoozed until (ms), the action taken.
    Column("seen", Boolean, nullable=False, default=False, server_default=false()),
    Column("archived", Boolean, nullable=False, default=False, server_default=false()),
    Column("snoozed_until", BigInteger),
    Column("action", String(64)),
    Column("action_at", BigInteger),
    # Copies of the notification's type and category, so counts and filters need no join (triage.py).
    Column("type", String(100)),
    Column("category", String(64)),
    PrimaryKeyConstraint("user_id", "id"),
    Index("ix_inbox_items_user_seq", "user_id", "seq", unique=True),
    Index("ix_inbox_items_user_read", "user_id", "read"),
    Index("ix_inbox_items_user_group", "user_id", "group_key"),
    Index("ix_inbox_items_updated_at", "updated_at"),
    Index("ix_inbox_items_notification", "notification_id"),
    Index("ix_inbox_items_user_replace", "user_id", "replace_key"),
    # Counts and filtered lists read only a user's live (not archived) unread rows.
    Index("ix_inbox_items_user_triage", "user_id", "archived", "read", "snoozed_until", "seen", "type", "category"),
    Index("ix_inbox_items_snoozed_until", "snoozed_until"),
)

# Changes to a user's inbox other than a new or updated item (read state today),
# each with the user's next sequence number, so that a stream resuming from a
# cursor replays them in order beside the items: a change made while a tab was
# away reaches it on reconnect, exactly like an item does. ``body`` is the
# event's JSON as clients receive it. Pruned with the items (retention).
inbox_changes = Table(
    "inbox_changes",
    metadata,
    Column("user_id", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "seq"),
    Index("ix_inbox_changes_created_at", "created_at"),
)

# Issue 22, fan-out on read (broadcasts.py): a publish to ``all`` or a topic is one notification and
# one row here, whatever the audience. ``bseq`` comes from ``broadcast_head`` under its row lock, so
# committed numbers are contiguous (a higher one proves every lower one committed): each user's
# ``broadcast_mark`` can then say "everything up to here is in my inbox". ``topic`` is null for ``all``.
broadcasts = Table(
    "broadcasts",
    metadata,
    Column("bseq", BigInteger, primary_key=True, autoincrement=False),
    Column("notification_id", String(26), nullable=False, index=True),
    Column("topic", String(128)),
    Column("created_at", BigInteger, nullable=False, index=True),
)

broadcast_head = Table(
    "broadcast_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_bseq", BigInteger, nullable=False),
)

# Follows that ended (an unfollow), kept so that a broadcast to the topic while the user followed it
# still reaches their inbox when they catch up later (the audience is the followers at publish time).
topic_follows_ended = Table(
    "topic_follows_ended",
    metadata,
    Column("topic", String(128), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("followed_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=False, index=True),
    Index("ix_topic_follows_ended_user_topic", "user_id", "topic"),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_name", String(128), ForeignKey("groups.name", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(128), nullable=False),
    PrimaryKeyConstraint("group_name", "user_id"),
)

topic_subscribers = Table(
    "topic_subscribers",
    metadata,
    Column("topic", String(128), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("topic", "user_id"),
    # A stream's opening reads the topics its user follows (inbox.py stream_starts).
    Index("ix_topic_subscribers_user_id", "user_id"),
)

# The first answer to a producer's idempotency key, replayed for 24 hours.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("producer", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("notification_id", String(26), nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
    PrimaryKeyConstraint("producer", "key"),
)

# A browser's Web Push subscription (``PushSubscription.toJSON()``). The endpoint
# identifies one browser profile, so it is unique: the user who last subscribed
# from that browser owns it.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("endpoint", String(2048), nullable=False, unique=True),
    Column("p256dh", String(128), nullable=False),
    Column("auth", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# A phone app's registration with FCM or APNs (push/devices.py). A token names one app
# install, so (platform, token) is unique: the user who registered it last owns it.
# ``last_*`` are the latest answer of the push service, for the admin console.
devices = Table(
    "devices",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("platform", String(8), nullable=False),
    Column("token", String(1024), nullable=False),
    Column("app", String(155), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_success_at", BigInteger),
    Column("last_error", String(200)),
    Column("last_error_at", BigInteger),
    UniqueConstraint("platform", "token"),
)

# One pending push to one browser subscription or one device: the one queue of every
# provider (``provider`` is webpush, fcm or apns; exactly one of ``subscription_id`` and
# ``device_id`` is set). Rows are the retry queue: a push is deleted once answered for
# good, so pending work survives a restart. A worker leases a row by moving
# ``next_attempt_at`` into the future before sending. ``payload``, ``urgency`` and
# ``topic`` are what the provider prepared (push/provider.py): the body it sends, its
# priority value and its collapse key. ``notification_id`` counts the outcome per
# notification for the admin console (null on rows queued before it existed).
push_jobs = Table(
    "push_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(8), nullable=False, server_default="webpush"),
    Column("subscription_id", String(26), ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True),
    Column("device_id", String(26), ForeignKey("devices.id", ondelete="CASCADE"), index=True),
    Column("notification_id", String(26)),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(26), nullable=False),
    Column("payload", Text, nullable=False),
    Column("urgency", String(8), nullable=False),
    Column("topic", String(32)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=False, index=True),
    Index("ix_push_jobs_provider_due", "provider", "next_attempt_at"),
)

# Which inbox items a device was pushed (and the service accepted), so that reading one
# anywhere sends that device a silent update (push/readstate.py). Deleted once the update
# is queued, or with the device; retention removes the rest.
device_pushes = Table(
    "device_pushes",
    metadata,
    Column("device_id", String(26), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(26), nullable=False),
    Column("at", BigInteger, nullable=False, index=True),
    PrimaryKeyConstraint("device_id", "item_id"),
    Index("ix_device_pushes_user_item", "user_id", "item_id"),
)

# The same for browsers: which inbox items a Web Push subscription was pushed (the push service
# accepted it), so that a retracted or expired item's notification can be closed there, and only
# there (push/readstate.py): a push that closes nothing still costs the site's silent-push budget.
subscription_pushes = Table(
    "subscription_pushes",
    metadata,
    Column("subscription_id", String(26), ForeignKey("push_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("item_id", String(26), nullable=False),
    Column("at", BigInteger, nullable=False, index=True),
    PrimaryKeyConstraint("subscription_id", "item_id"),
    Index("ix_subscription_pushes_user_item", "user_id", "item_id"),
)

# Pushes answered for good, per notification and provider, for the admin console:
# delivered (accepted by the push service) and failed (refused, gone, expired, given up).
push_results = Table(
    "push_results",
    metadata,
    Column("notification_id", String(26), nullable=False),
    Column("provider", String(8), nullable=False),
    Column("delivered", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("notification_id", "provider"),
)

# Admin console (issue 5). Passwords are argon2id hashes; a session row is keyed
# by the SHA-256 of the random cookie value, so a database leak yields no live cookie.
admin_users = Table(
    "admin_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_login_at", BigInteger),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("admin_users.username", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

# Producer keys made in the admin: only the SHA-256 of the key is kept (the key
# is shown once), with its first characters so people can tell keys apart.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("revoked_by", String(64)),
)

# Who did what in the admin console (and with ``herald admin``): sends, keys, groups, topics.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", JSON(none_as_null=True)),
)

# Log messages (herald.consume) that can never be published, kept with their error for the admin.
# One row per message: a message redelivered after its dead letter was written does not add another.
consume_dead_letters = Table(
    "consume_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("source_id", String(300), nullable=False),
    Column("message_key", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False, index=True),
    Index("ix_consume_dead_letters_source_message", "source", "source_id", unique=True),
)

# Publishes with ``sendAt`` waiting for their time (schedule.py). ``id`` is the id the notification will
# have; ``request`` the publish body as accepted (camelCase JSON); ``target`` its ``to``, for cancelling
# by replace key. ``status``: pending, then sent (in the transaction that writes the notification),
# cancelled or failed (``error`` says why: the group was deleted meanwhile, say). Finished rows stay a
# day, so that a retried publish with the same idempotency key still finds its answer.
scheduled_notifications = Table(
    "scheduled_notifications",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("producer", String(64), nullable=False),
    Column("request", Text, nullable=False),
    Column("target", JSON, nullable=False),
    Column("send_at", BigInteger, nullable=False),
    Column("replace_key", String(200)),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("finished_at", BigInteger),
    Column("finished_by", String(64)),
    Column("error", String(300)),
    Index("ix_scheduled_notifications_status_send_at", "status", "send_at"),
    Index("ix_scheduled_notifications_replace_key", "replace_key"),
)

# Webhooks out (herald/webhooks/): where a producer's backend hears what happened to its notifications.
# ``producer`` is the API key's fingerprint (api_keys.fingerprint), the name every notification carries.
# ``secret`` is the signing key (``whsec_...``), kept as is: Herald must sign with it, so a hash would not do.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("producer", String(64), nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# One event for one endpoint: the durable queue (at-least-once). ``id`` is the ``webhook-id`` header, the
# same on every attempt so a receiver can dedupe; ``body`` is the exact JSON sent each time. A sender claims
# a row by moving ``next_attempt_at`` past its timeout; ``status`` is pending, delivered or failed.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(26), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("type", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("next_attempt_at", BigInteger, nullable=False),
    Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),
)

# Each HTTP attempt of a delivery, for the admin's "recent attempts": status code or error, and latency.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("endpoint_id", String(26), nullable=False),
    Column("at", BigInteger, nullable=False, index=True),
    Column("status_code", Integer),
    Column("error", String(200)),
    Column("latency_ms", Integer, nullable=False),
    Index("ix_webhook_attempts_endpoint_at", "endpoint_id", "at"),
)

# A user's own notification settings (preferences.py): choices per category and channel, quiet hours in their
# zone, do not disturb until an instant. ``held`` counts items kept from pushes while quiet, for the one
# digest that ``digest_at`` (the quiet period's end) sends, on ``held_channels``.
preferences = Table(
    "preferences",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("time_zone", String(64)),
    Column("quiet_hours", JSON(none_as_null=True)),
    Column("dnd_until", BigInteger),
    Column("categories", JSON(none_as_null=True)),
    Column("held", Integer, nullable=False, default=0),
    Column("held_channels", JSON(none_as_null=True)),
    Column("digest_at", BigInteger, index=True),
    Column("updated_at", BigInteger, nullable=False),
)

# What the producer sets per category: the channels' defaults, and whether it is critical (never off, never quiet).
category_defaults = Table(
    "category_defaults",
    metadata,
    Column("category", String(64), primary_key=True),
    Column("critical", Boolean, nullable=False, default=False),
    Column("channels", JSON, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
