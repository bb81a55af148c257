"""Database work: transactions that survive a deadlock or a lock-wait timeout by running
again (`retry_transaction`), and the threads on which async views run it (`in_database`).

MariaDB/MySQL may pick a transaction as a deadlock victim (error 1213: the whole
transaction is rolled back) or give up waiting for a row lock (1205). Both are
transient: the right answer is to run the whole transaction again, from its first
statement, so every read is fresh. Retrying only the failed statement would reuse
values read before the rollback.

`retry_transaction` wraps a function in `transaction.atomic()`. Only the outermost
transaction retries: inside another transaction a rollback has already undone the
caller's work too, so the error goes up to whoever opened that transaction.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import OperationalError, close_old_connections, connection, transaction

logger = logging.getLogger(__name__)

DEADLOCK = 1213  # ER_LOCK_DEADLOCK
LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT
RETRYABLE_ERRORS = {DEADLOCK, LOCK_WAIT_TIMEOUT}
T = TypeVar("T")


def is_retryable(error: BaseException) -> bool:
    return (
        isinstance(error, OperationalError)
        and bool(error.args)
        and (error.args[0] in RETRYABLE_ERRORS)
    )


def retry_transaction(func):
    """Run `func` in a transaction; on a deadlock or lock-wait timeout run it again.

    At most `DB_RETRY_ATTEMPTS` runs, with a short random pause between them so two
    victims of the same deadlock do not meet again. A function retried this way must
    not do anything outside the database before it returns (side effects go in
    `transaction.on_commit`, which a rolled-back attempt discards).
    """

    @functools.wraps(func)
    def run(*args, **kwargs):
        if connection.in_atomic_block:
            with transaction.atomic():
                return func(*args, **kwargs)
        attempts = settings.DB_RETRY_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except OperationalError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                logger.warning(
                    "%s: %s, running the transaction again (%d/%d)",
                    func.__qualname__,
                    error.args[1] if len(error.args) > 1 else error,
                    attempt + 1,
                    attempts,
                )
                time.sleep(random.uniform(0, 0.005 * 2**attempt))

    return run


# --- database work from async views ------------------------------------------------

_threads: ThreadPoolExecutor | None = None


def use_database_threads(count: int) -> None:
    """Run `in_database` work on `count` threads of this process (volx/asgi.py).

    Each thread keeps one persistent connection, so the process holds at most `count`
    connections for the AI actions however many of them are waiting on the provider.
    """
    global _threads
    _threads = ThreadPoolExecutor(max_workers=count, thread_name_prefix="volx-db")


async def in_database(func: Callable[..., T], *args, **kwargs) -> T:
    """Await `func(*args, **kwargs)`, ordinary synchronous ORM code, from async code.

    Under the ASGI server, on the process's database threads (use_database_threads),
    each job starting and ending as a request does, with Django's check of the thread's
    connection (CONN_MAX_AGE, CONN_HEALTH_CHECKS, a connection left broken). Elsewhere
    (the test client, runserver) on the calling request's own thread, as Django's
    `sync_to_async` does by default: the same connection and transaction as the caller.
    """
    if _threads is None:
        return await sync_to_async(func)(*args, **kwargs)
    return await sync_to_async(_as_a_request(func), thread_sensitive=False, executor=_threads)(
        *args, **kwargs
    )


def _as_a_request(func: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(func)
    def run(*args, **kwargs) -> T:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return run
