"""The database cache's table (CACHE_URL=dbcache://volx_cache, the default): the API
throttles count there, so that every worker process and host sees one count. Made here so
that `migrate` (the Procfile's release command) makes it; `createcachetable` skips a table
that exists and caches that are not the database's. It is not a model: no state."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("tokens", "0008_idempotency_keys_binary")]

    # Not wrapped in a transaction: MySQL cannot roll DDL back.
    operations = [
        migrations.RunPython(
            create_cache_table, migrations.RunPython.noop, atomic=False, elidable=False
        )
    ]
