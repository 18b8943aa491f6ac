"""``herald admin create USERNAME`` and ``herald admin password USERNAME``: admin accounts from the console.

The password comes from a prompt (typed twice) or, for scripts, from the first
line of standard input with ``--password-stdin``; never from an argument,
which other users of the machine could read in the process list.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TYPE_CHECKING

from herald.settings import Settings

if TYPE_CHECKING:
    from herald.db import Database


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="admin_action", required=True)
    for name, help_text in (("create", "create an admin account"),
                            ("password", "set a new password for an admin and end their sessions")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("username")
        action.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def admin_command(settings: Settings, args: argparse.Namespace) -> int:
    from herald.admin.accounts import AdminError, check_password, check_username

    try:
        username = check_username(args.username)
        password = check_password(_read_password(args.password_stdin))
    except AdminError as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("herald: no password given", file=sys.stderr)
        return 2
    return asyncio.run(_store(settings, username, password, replace=args.admin_action == "password"))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    from herald.admin.accounts import AdminError

    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise AdminError("The two passwords differ.")
    return first


async def _store(settings: Settings, username: str, password: str, *, replace: bool) -> int:
    from herald.admin.accounts import AdminAccounts
    from herald.admin.audit import record
    from herald.db import Database, migrate

    # The schema may not exist yet on a fresh install: creating the first admin comes before the first start.
    await asyncio.to_thread(migrate, settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        accounts = AdminAccounts(db)
        if replace:
            if not await _exists(db, username):
                print(f"herald: there is no admin named {username!r}", file=sys.stderr)
                return 1
            await accounts.create(username, password, replace=True)
            await record(db, "console", "admin.password", username)
            print(f"new password set for {username}; their sessions have ended")
            return 0
        if not await accounts.create(username, password):
            print(f"herald: an admin named {username!r} exists; use 'herald admin password {username}'",
                  file=sys.stderr)
            return 1
        await record(db, "console", "admin.create", username)
        print(f"admin {username} created; sign in at /admin")
        return 0
    finally:
        await db.close()


async def _exists(db: Database, username: str) -> bool:
    from sqlalchemy import select

    from herald.models import admin_users

    async with db.read() as conn:
        return (await conn.execute(select(admin_users.c.username)
                                   .where(admin_users.c.username == username))).first() is not None
