import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.core.demo_stack import demo_processes, demo_require_debug
from apps.core.supervisor import run_processes


class Command(BaseCommand):
    help = "Run web, Celery worker, beat and the apps' demo processes in the foreground until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        demo_require_debug()
        commands = demo_processes(port=options["port"])
        names = ", ".join(name for name, _argv in commands)
        self.stdout.write(_("Starting %(names)s; press Ctrl-C to stop them all.") % {"names": names})
        outcome = run_processes(commands, out=sys.stdout)
        if outcome.name is not None:
            raise CommandError(
                _("%(name)s exited with code %(code)s; the other processes were stopped.")
                % {"name": outcome.name, "code": outcome.returncode}
            )
        self.stdout.write(_("All demo processes stopped."))
