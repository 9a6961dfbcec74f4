from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from apps.core.demo_stack import demo_require_debug, demo_seed_all


class Command(BaseCommand):
    help = "Load the demo data of every app (inventory, channels, orders, payments, aftersales); safe to rerun."

    def handle(self, *args, **options):
        demo_require_debug()
        ran = demo_seed_all(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(_("Demo data loaded (%(count)d apps).") % {"count": len(ran)}))
