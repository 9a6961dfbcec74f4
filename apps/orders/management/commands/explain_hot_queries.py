"""Print the plan of each hot order query and exit 1 when one leaves its index.

manage.py explain_hot_queries [--verbose]
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.orders.hot_queries import check_hot_queries
from apps.orders.models import Order


class Command(BaseCommand):
    help = "EXPLAIN the hot order queries; exit 1 when one scans the table or the wrong index."

    def add_arguments(self, parser):
        parser.add_argument("--verbose", action="store_true", help="print every plan row")

    def handle(self, *args, verbose, **options):
        if connection.vendor != "mysql" or connection.display_name == "TiDB":
            raise CommandError("explain_hot_queries reads MySQL/MariaDB plans.")
        checks = check_hot_queries()
        if not checks:
            raise CommandError("No shipped order with a shop to take the query values from: run orders_generate.")
        self.stdout.write(f"{Order.objects.count()} orders")
        for check in checks:
            rows = [row for row in check.plan if row.get("table") == Order._meta.db_table]
            first = rows[0] if rows else {}
            verdict = "ok" if check.ok else "FAIL: " + "; ".join(check.problems)
            self.stdout.write(
                f"{check.query.name:<45} type={first.get('type')} key={first.get('key')} "
                f"rows={first.get('rows')} extra={first.get('extra') or ''}  {verdict}"
            )
            if verbose:
                for row in check.plan:
                    self.stdout.write(f"    {row}")
        failed = [check.query.name for check in checks if not check.ok]
        if failed:
            raise CommandError(f"Off their index: {', '.join(failed)}")
