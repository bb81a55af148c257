"""Django's MariaDB/MySQL backend with two round trips fewer per transaction.

Django's `atomic()` on MySQL begins a transaction by turning the session's autocommit
off (`SET autocommit=0`) and, after the COMMIT, turns it on again (`SET autocommit=1`):
two round trips besides the transaction's own statements. This backend begins with
`START TRANSACTION` instead, through the hook Django already uses for SQLite
(`_start_transaction_under_autocommit`), and does not send it on its own: it goes to the
server in the same packet as the transaction's first statement (`START TRANSACTION;
UPDATE …`, one multi-statement query; mysqlclient enables multi-statements by default).
A transaction that sends no statement sends no COMMIT either.

The session's autocommit never changes: the COMMIT or ROLLBACK ends the transaction and
the session is back in autocommit, so the `autocommit(True)` that follows finds nothing
to do (mysqlclient reads the server's status flag and sends nothing). A transaction
costs its statements and its COMMIT, nothing more: a wallet debit, hold or settlement is
two round trips (tokens/wallet.py sends the statements of each as one query).
"""

from django.db.backends.mysql import base

BEGIN = "START TRANSACTION; "


class CursorWrapper(base.CursorWrapper):
    def __init__(self, cursor, database):
        super().__init__(cursor)
        self.database = database

    def execute(self, query, args=None):
        if not self.database.begin_pending:
            return super().execute(query, args)
        self.database.begin_pending = False
        # BEGIN has no %: mysqlclient's interpolation of `args` leaves it alone.
        super().execute(BEGIN + query, args)
        self.nextset()
        return self.cursor.rowcount

    def executemany(self, query, args):
        if self.database.begin_pending:
            self.database.begin_pending = False
            super().execute(BEGIN.rstrip("; "))
        return super().executemany(query, args)

    def nextset(self):
        """The next statement's result (rows, rowcount, lastrowid) of a multi-statement
        query: an error of that statement is raised here, mapped as execute() maps it."""
        try:
            return self.cursor.nextset()
        except base.Database.OperationalError as e:
            if e.args[0] in self.codes_for_integrityerror:
                raise base.IntegrityError(*tuple(e.args)) from e
            raise


class DatabaseWrapper(base.DatabaseWrapper):
    begin_pending = False  # atomic() has begun; START TRANSACTION is not sent yet

    def get_new_connection(self, conn_params):
        self.begin_pending = False
        return super().get_new_connection(conn_params)

    def create_cursor(self, name=None):
        return CursorWrapper(self.connection.cursor(), self)

    def _start_transaction_under_autocommit(self):
        self.begin_pending = True

    def _commit(self):
        if self._nothing_sent():
            return
        return super()._commit()

    def _rollback(self):
        if self._nothing_sent():
            return
        return super()._rollback()

    def _nothing_sent(self) -> bool:
        """True (and the pending begin dropped) when the transaction sent no statement."""
        if self.begin_pending:
            self.begin_pending = False
            return True
        return False
