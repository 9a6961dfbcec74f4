from django.conf import settings
from django.core.management.base import BaseCommand

from apps.payments.sandbox.keys import ensure_sandbox_keys


class Command(BaseCommand):
    help = "Generate the sandbox gateway's and the merchant's RSA keys under var/payments/ (idempotent)."

    def handle(self, *args, **options):
        directory = ensure_sandbox_keys(settings.VAR_DIR / "payments")
        self.stdout.write(self.style.SUCCESS(f"Sandbox payment keys ready in {directory}"))
