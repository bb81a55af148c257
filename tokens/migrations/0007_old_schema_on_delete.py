"""The old schema's ON DELETE rules, in the database: the old system's SQL deletes rows
directly (`DELETE FROM articles WHERE id = …`), and Django creates its foreign keys without
ON DELETE (RESTRICT on MySQL/MariaDB; its on_delete runs in Python only). So:

- user_subscriptions.user_id and token_usage_history.user_id: ON DELETE CASCADE
- token_usage_history.article_id: ON DELETE SET NULL

The constraints keep the names Django gave them, looked up in information_schema here, so
this works whatever those names are. SQLite: nothing to do (the old SQL runs on MySQL).

In this app, not subscriptions, so that one migration holds all three. A later AlterField
of one of these fields makes Django recreate its constraint without the rule;
tokens/tests/test_old_schema_foreign_keys.py would then fail.
"""

from django.db import migrations

# (table, column, referenced table, ON DELETE rule)
RULES = [
    ("user_subscriptions", "user_id", "users", "CASCADE"),
    ("token_usage_history", "user_id", "users", "CASCADE"),
    ("token_usage_history", "article_id", "articles", "SET NULL"),
]


def set_rules(schema_editor, rules):
    if schema_editor.connection.vendor != "mysql":
        return
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        for table, column, referenced, rule in rules:
            cursor.execute(
                "SELECT CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s"
                " AND REFERENCED_TABLE_NAME = %s",
                [table, column, referenced],
            )
            names = [name for (name,) in cursor.fetchall()]
            if len(names) != 1:
                raise RuntimeError(
                    f"expected one foreign key on {table}.{column}, found {names or 'none'}"
                )
            name = names[0]
            on_delete = f" ON DELETE {rule}" if rule else ""
            # Two statements: MySQL refuses to drop and re-add a name in one ALTER TABLE.
            schema_editor.execute(f"ALTER TABLE {quote(table)} DROP FOREIGN KEY {quote(name)}")
            schema_editor.execute(
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)}"
                f" FOREIGN KEY ({quote(column)}) REFERENCES {quote(referenced)} (`id`){on_delete}"
            )


def forwards(apps, schema_editor):
    set_rules(schema_editor, RULES)


def backwards(apps, schema_editor):
    # Back to what Django creates: no ON DELETE clause (RESTRICT).
    set_rules(schema_editor, [(table, column, ref, "") for table, column, ref, _ in RULES])


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0006_ledger_kind_taken_back"),
        ("subscriptions", "0004_plan_started_at"),
        ("articles", "0002_article_creations"),
    ]

    # MySQL cannot roll DDL back: not wrapped in a transaction, each ALTER TABLE commits.
    operations = [migrations.RunPython(forwards, backwards, atomic=False, elidable=False)]
