"""Database work: transactions that survive a deadlock or a lock-wait timeout by running
again (`retry_transaction`), and the threads on which async views run it (`in_database`).

MariaDB/MySQL may pick a transaction as a deadlock victim (error 1213: the whole
transaction is rolled back) or give up waiting for a row lock (1205). Both are
transient: the right answer is to run the whole transaction again, from its first
statement, so every read is fresh. Retrying only the failed statement would reuse
values read before the rollback.

`retry_transaction` wraps a function in `transaction.atomic()`. Only the outermost
transaction retries: inside another transaction a rollback has already undone the
caller's work too, so the error goes up to whoever opened that transaction. A Galera
node that is not ready yet (1047) is retried the same way: it refused the statement.

What is never retried is a lost connection (2006, 2013): the transaction's outcome may
be unknown (a COMMIT sent, its answer lost), and running it again could do it twice.
`is_unavailable` tells those, and the retryable errors whose attempts are spent, apart:
volx/views.py answers them 503 with Retry-After. Each path stays exactly-once:

- before its COMMIT, a transaction lost with its connection is rolled back by the server;
- a hold whose COMMIT's answer was lost stays open until `release_stale_holds` gives it
  back; a settlement lost so leaves its hold open, given back the same way: the 503
  answer charged nothing. A failed action gives its hold back, and drops its
  Idempotency-Key, on a new connection within seconds (`retry_on_a_new_connection`),
  and a done request stores its answer for its key the same way; a claim of a key whose
  INSERT's answer was lost removes its row (`IdempotencyRecord.claim`);
- an AI action with an Idempotency-Key stores its answer in the transaction that
  charges it: a retry with the key replays the answer, or runs again if neither landed;
- a webhook answered 503 is delivered again by the provider, and its event id
  (payments.WebhookEvent) makes a second delivery of a processed event a no-op;
- an admin approval or a bonus answered 503 is retried by the admin: a payment approves
  once (its status) and a bonus with an Idempotency-Key is written once.
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
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)

logger = logging.getLogger(__name__)

DEADLOCK = 1213  # ER_LOCK_DEADLOCK; also Galera's certification failure at COMMIT
LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT
NODE_NOT_READY = 1047  # ER_UNKNOWN_COM_ERROR: "WSREP has not yet prepared node …"
RETRYABLE_ERRORS = {DEADLOCK, LOCK_WAIT_TIMEOUT, NODE_NOT_READY}
# The client's: cannot connect (2002 socket, 2003 TCP), server gone (2006), lost (2013).
UNREACHABLE_ERRORS = {2002, 2003, 2006, 2013}
RETRY_AFTER_SECONDS = 5  # what a 503 asks the client to wait
T = TypeVar("T")


def is_retryable(error: BaseException) -> bool:
    return _code(error) in RETRYABLE_ERRORS


def is_unavailable(error: BaseException | None) -> bool:
    """The database could not do the work now and may shortly: unreachable, the
    connection lost or closed, or still busy after DB_RETRY_ATTEMPTS runs. The error
    itself or what it was raised from."""
    while error is not None:
        if isinstance(error, InterfaceError):  # "connection already closed"
            return True
        if _code(error) in UNREACHABLE_ERRORS | RETRYABLE_ERRORS:
            return True
        error = error.__cause__ or error.__context__
    return False


def _code(error: BaseException) -> int | None:
    if isinstance(error, OperationalError) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


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


# The pauses before each new try on a new connection, 7.5 s in all: enough for a
# failover, measured at about 6.5 s after a node is killed (HAProxy marks it down after
# two health checks a second apart; the other nodes take writes again after Galera's
# view change). A request that fails while the database is down holds its database
# thread that much longer before its 503.
NEW_CONNECTION_PAUSES = (0.5, 1.0, 2.0, 4.0)


def retry_on_a_new_connection(func: Callable[[], T]) -> T:
    """Run `func`, a transaction of its own; while the database is unavailable, run it
    again on a new connection after each of NEW_CONNECTION_PAUSES, then let the error go up.

    For what must land once a request has failed or succeeded with the database: giving
    back a failed request's token hold and Idempotency-Key, storing a done request's
    answer for its key. Otherwise the hold waits for `release_stale_holds` and the key is
    in progress, unowned, for ABANDONED_AFTER (409 to the client's retries). The
    connection that failed is most often the one lost with a database node. `func` must
    be idempotent: a run whose COMMIT landed unanswered has done it already.
    """
    for pause in NEW_CONNECTION_PAUSES:
        try:
            return func()
        except (OperationalError, InterfaceError) as error:
            if connection.in_atomic_block or not is_unavailable(error):
                raise
        connection.close()
        time.sleep(pause)
    return func()


# --- a Galera cluster ----------------------------------------------------------------


def wait_for_cluster_writes(sender, connection, **kwargs) -> None:
    """On a Galera node, set DB_WSREP_SYNC_WAIT for the new connection's session.

    Galera commits a write on every node before COMMIT returns, but another node may apply
    it a moment later. HAProxy sends Volx's connections to one node (deploy/galera/), so a
    user's next request reads where it wrote; after a failover it reads on another node,
    which with wsrep_sync_wait first applies everything committed before the read began.
    Asked once per connection (connections persist): a MariaDB that is not a Galera node,
    or MySQL, has wsrep_on OFF or no such variable, and nothing is set.
    """
    if connection.vendor != "mysql" or not settings.DB_WSREP_SYNC_WAIT:
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW VARIABLES LIKE 'wsrep_on'")
        if (cursor.fetchone() or (None, "OFF"))[1] == "ON":
            cursor.execute("SET SESSION wsrep_sync_wait = %s", [settings.DB_WSREP_SYNC_WAIT])


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
