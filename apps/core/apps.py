from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        # Read replicas: a request or task starts unpinned; a write on the primary pins it.
        from celery.signals import task_prerun
        from django.core.signals import request_started
        from django.db.backends.signals import connection_created

        from apps.core import replicas

        connection_created.connect(replicas.install_write_detector, dispatch_uid="oms.replicas.detector")
        request_started.connect(replicas.reset_scope, dispatch_uid="oms.replicas.request")
        task_prerun.connect(replicas.reset_scope, dispatch_uid="oms.replicas.task", weak=False)
