"""The database engine: SQLite (embedded default) or PostgreSQL, one code path.

Differences between the two are confined here: SQLite gets WAL, a busy
timeout and an in-process write lock (it has a single writer, and queueing on
an asyncio lock is cheaper and fairer than spinning on ``SQLITE_BUSY``).

SQLite runs in aiosqlite's thread, and each call into that thread is a task
switch and a GIL hand-over (about 0.1 ms each, more on a busy machine).
SQLAlchemy's adapter makes four per statement (open a cursor, execute,
fetch, close) and one more to roll back every read connection it returns to
the pool. ``_OneHopCursor`` runs a whole statement in one call, and
``_OneHopConnection`` skips the rollback when SQLite holds no transaction
(where it is a no-op anyway): one hop per statement.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import aiosqlite

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import Text, any_, bindparam, event, func, literal, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor,
                                                  AsyncAdapt_aiosqlite_dbapi)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.elements import ColumnElement

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """Owns the engine; ``write()`` opens a transaction for changes, ``read()`` one for queries.

    ``hide_parameters``: bound values (tokens' user ids, admin sessions, payloads) never
    reach exception text, and so never a log line.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # WAL lets readers run beside the writer: a bigger pool serves bursts of stream opens.
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=20,
                                                           max_overflow=20, pool_timeout=30, hide_parameters=True,
                                                           module=_OneHopDbapi(aiosqlite, sqlite3))
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # A database that stops answering (a partition, a hung host) must not hold a publish until
            # TCP gives up: connecting and each statement have bounds, beyond which errors.py answers 503.
            self.engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=10,
                                              hide_parameters=True, connect_args={"timeout": 5, "command_timeout": 10})
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    def insert(self, table: Any) -> Any:
        """A dialect insert, which offers ``on_conflict_do_update`` / ``do_nothing`` on both databases."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    def among(self, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
        """``column IN values`` as one bound parameter, whatever the count.

        An expanding ``IN`` list costs SQLAlchemy a compile per distinct length and
        SQLite a parameter per value (at most 32,766); a JSON array (SQLite's
        ``json_each``) or a PostgreSQL array is one parameter and one cached statement.
        """
        if self.is_sqlite:
            return column.in_(select(literal_column("value")).select_from(
                func.json_each(literal(msgspec.json.encode(list(values)).decode()))))
        return column == any_(literal(list(values), postgresql.ARRAY(Text)))

    def among_bound(self, column: Any, name: str) -> ColumnElement[bool]:
        """``among`` with the values bound at execution as ``name`` (``among_values``), for a statement built once.

        A statement of literals costs SQLAlchemy its coercion and cache key again at every execution.
        """
        if self.is_sqlite:
            return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name, type_=Text))))
        return column == any_(bindparam(name, type_=postgresql.ARRAY(Text)))

    def among_values(self, values: Sequence[str]) -> Any:
        return msgspec.json.encode(list(values)).decode() if self.is_sqlite else list(values)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            # Python's sqlite3 begins a transaction only before the first INSERT/UPDATE/DELETE, so
            # reads ahead of it ran outside it; BEGIN IMMEDIATE takes the write lock (against other
            # processes on the same file, e.g. --workers) and puts every statement inside. It runs in
            # the same call to the thread as the first statement: one hop fewer per transaction.
            (await conn.get_raw_connection()).dbapi_connection.begin_first = "BEGIN IMMEDIATE"  # type: ignore[union-attr]
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A broadcast touches a page per recipient in each inbox index: keep them cached (64 MiB).
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


class _Statement:
    """Stands in for aiosqlite's cursor: one statement, executed, fetched and closed in one call to its thread."""

    __slots__ = ("_owner", "description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, owner: "_OneHopConnection") -> None:
        self._owner = owner
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def run(self, operation: str, parameters: Any) -> list[Any] | None:
        return await self._owner._connection._execute(self._run, operation, parameters)  # type: ignore[no-any-return]

    async def run_many(self, operation: str, parameters: Any) -> None:
        await self._owner._connection._execute(self._run_many, operation, parameters)

    def _run(self, operation: str, parameters: Any) -> list[Any] | None:  # in aiosqlite's thread
        connection = self._owner._connection._conn
        self._owner.begin()
        cursor = connection.cursor()
        try:
            cursor.execute(operation) if parameters is None else cursor.execute(operation, parameters)
            self.description = cursor.description
            rows = cursor.fetchall() if cursor.description else None
            self.rowcount, self.lastrowid = cursor.rowcount, cursor.lastrowid  # RETURNING counts once fetched
            return rows
        finally:
            cursor.close()
            self._owner.open = connection.in_transaction

    def _run_many(self, operation: str, parameters: Any) -> None:  # in aiosqlite's thread
        connection = self._owner._connection._conn
        self._owner.begin()
        cursor = connection.cursor()
        try:
            cursor.executemany(operation, parameters)
            self.rowcount = cursor.rowcount
        finally:
            cursor.close()
            self._owner.open = connection.in_transaction

    def close(self) -> None:
        """Closed already, in the call that ran it."""


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # _Statement.close is plain

    def _make_new_cursor(self, connection: Any) -> Any:
        return _Statement(self._adapt_connection)  # type: ignore[arg-type]

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            rows = await self._cursor.run(operation, parameters)  # type: ignore[attr-defined]
            if rows is not None:
                self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            await self._cursor.run_many(operation, seq_of_parameters)  # type: ignore[attr-defined]


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("open", "begin_first")
    _cursor_cls = _OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.open = False  # SQLite's own in_transaction, read in its thread after each statement
        self.begin_first: str | None = None  # run before the next statement, in the same call (Database.write)

    def begin(self) -> None:  # in aiosqlite's thread
        statement, self.begin_first = self.begin_first, None
        if statement is not None:
            self._connection._conn.execute(statement)
            self.open = True

    def rollback(self) -> None:
        self.begin_first = None
        if self.open:
            super().rollback()
            self.open = False

    def commit(self) -> None:
        # Nothing ran (begin_first still pending): there is no transaction, and committing is a no-op.
        if self.begin_first is None:
            super().commit()
        self.begin_first = None
        self.open = False


class _OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return _OneHopConnection(self, adapted._connection)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema (blocking: call it before the event loop starts, or in a thread)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
