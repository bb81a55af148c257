"""Idempotency keys are exact strings. On MySQL/MariaDB the key columns had the table's
collation, utf8mb4_unicode_ci, which ignores case, accents and trailing spaces: a request
with `Click-x-A` replayed the answer of `click-x-a`, and a ledger credit keyed `K` was
taken for the one keyed `k`. A binary collation that does not pad (utf8mb4_bin still
ignores trailing spaces): MariaDB's utf8mb4_nopad_bin, MySQL 8's utf8mb4_0900_bin. SQLite
compares bytes already.

Not the fields' `db_collation`: it is one name for every database, and SQLite knows no
utf8mb4_bin. A later AlterField of these fields would bring the table's collation back;
tokens/tests/test_idempotency_keys_exact.py would then fail on MariaDB.
"""

from django.db import migrations

# (table, column, type, NULL-ness), as the earlier migrations made them
COLUMNS = [
    ("idempotency_records", "key", "varchar(255)", "NOT NULL"),
    ("token_ledger", "idempotency_key", "varchar(100)", "NULL"),
]


def set_collation(schema_editor, collation: str) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    quote = schema_editor.quote_name
    for table, column, column_type, null in COLUMNS:
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} MODIFY {quote(column)} {column_type}"
            f" CHARACTER SET utf8mb4 COLLATE {collation} {null}"
        )


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    mariadb = connection.vendor == "mysql" and connection.mysql_is_mariadb
    set_collation(schema_editor, "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin")


def backwards(apps, schema_editor):
    set_collation(schema_editor, "utf8mb4_unicode_ci")


class Migration(migrations.Migration):
    dependencies = [("tokens", "0007_old_schema_on_delete")]

    operations = [
        # MySQL cannot roll DDL back: not wrapped in a transaction.
        migrations.RunPython(forwards, backwards, atomic=False, elidable=False)
    ]
