import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "apps.channels"
    label = "channels"
    verbose_name = _("Sales channels")

    def ready(self) -> None:
        # Outbox consumers register themselves when events.py is imported.
        try:
            importlib.import_module(f"{self.name}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.name}.events":
                raise
