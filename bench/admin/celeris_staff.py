"""Create the run's staff users in celeris's admin (one per browser; run from its tree).

Usage: ``python bench/admin/celeris_staff.py MODULE:ATTR COUNT`` with ``BENCH_PASSWORD`` set:
users ``staff1@example.com`` ... ``staffCOUNT@example.com``, active, verified, staff and
superuser, made through ``celeris.auth`` (the app's ``Auth``) if missing. One account per
browser because ``Auth`` throttles sign-ins per account (5 a minute by default), as it should.
"""

from __future__ import annotations

import asyncio
import os
import sys

from celeris.cli.auth import load_auth
from celeris.db import Model


def email(number: int) -> str:
    return f"staff{number}@example.com"


async def main(target: str, count: int, password: str) -> None:
    auth = load_auth(target)
    await auth.db.connect()
    try:
        async with auth.db.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
        await auth.start()
        for number in range(1, count + 1):
            if await auth.get_user_by_email(email(number)) is None:
                await auth.create_user(
                    email(number), password, is_staff=True, is_superuser=True, email_verified=True
                )
    finally:
        await auth.db.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), os.environ["BENCH_PASSWORD"]))
