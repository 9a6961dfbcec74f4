from django.core.management.base import BaseCommand, CommandError

from apps.inventory.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Check that every stock row agrees with its ledger, its reservations and the transfers."

    def handle(self, *args, **options):
        mismatches = ledger_mismatches()
        for m in mismatches:
            self.stdout.write(f"{m.label}: {m.problem} expected {m.expected}, found {m.actual}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} stock ledger mismatch(es).")
        self.stdout.write(self.style.SUCCESS("Stock ledger is consistent."))
