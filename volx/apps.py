from django.apps import AppConfig
from django.db.backends.signals import connection_created


class VolxConfig(AppConfig):
    name = "volx"

    def ready(self):
        from volx import db

        connection_created.connect(db.wait_for_cluster_writes, dispatch_uid="volx.wsrep_sync_wait")
