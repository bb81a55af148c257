"""Django's MariaDB/MySQL backend with one round trip fewer per transaction.

Django's `atomic()` on MySQL begins a transaction by turning the session's autocommit
off (`SET autocommit=0`) and, after the COMMIT, turns it on again (`SET autocommit=1`):
two round trips besides the transaction's own statements. This backend begins with
`START TRANSACTION` instead, through the hook Django already uses for SQLite
(`_start_transaction_under_autocommit`). The session's autocommit never changes: the
COMMIT or ROLLBACK ends the transaction and the session is back in autocommit, so the
`autocommit(True)` that follows finds nothing to do (mysqlclient reads the server's
status flag and sends nothing). An AI action is two transactions: two round trips fewer.
"""

from django.db.backends.mysql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self):
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.execute("START TRANSACTION")
