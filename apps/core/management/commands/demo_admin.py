from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from apps.core.demo_stack import demo_admin_ensure, demo_require_debug


class Command(BaseCommand):
    help = "Create the demo superuser (or reset its password) and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        demo_require_debug()
        username, password = demo_admin_ensure()
        base = f"http://127.0.0.1:{options['port']}"
        self.stdout.write(self.style.SUCCESS(_("OMS demo ready.")))
        self.stdout.write(_("  Operations console: %(url)s") % {"url": f"{base}/admin/"})
        self.stdout.write(_("  API docs:           %(url)s") % {"url": f"{base}/api/docs/"})
        self.stdout.write(_("  Readiness:          %(url)s") % {"url": f"{base}/readyz"})
        self.stdout.write(
            _("  Login:              %(username)s / %(password)s") % {"username": username, "password": password}
        )
