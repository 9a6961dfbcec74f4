"""``manage.py search_index --rebuild | --create-if-missing | --check``: maintain the
Elasticsearch order index."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.orders.search.indexer import search_index_check, search_index_ensure, search_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the order search index behind its alias (no downtime), or check it against the database."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--rebuild", action="store_true", help="Load a new index version and swap the alias.")
        action.add_argument(
            "--create-if-missing", action="store_true", help="Build the index only if its alias does not exist yet."
        )
        action.add_argument("--check", action="store_true", help="Compare counts and a sample; exit 1 on mismatch.")
        parser.add_argument("--chunk-size", type=int, default=None, help="Orders per bulk request.")
        parser.add_argument("--sample", type=int, default=100, help="Orders sampled by --check.")

    def handle(self, *args, **options):
        if settings.SEARCH_BACKEND != "elasticsearch":
            raise CommandError("SEARCH_BACKEND is not 'elasticsearch' (set ELASTICSEARCH_URL): nothing to index.")
        if options["rebuild"] or options["create_if_missing"]:
            build = search_index_ensure if options["create_if_missing"] else search_index_rebuild
            result = build(actor="system:search_index", chunk_size=options["chunk_size"])
            if result is None:
                self.stdout.write("The search index alias exists: nothing to do.")
                return
            self.stdout.write(
                f"{result.index}: {result.indexed} orders loaded, {result.caught_up} re-sent after the swap; "
                f"removed {', '.join(result.previous) or 'nothing'}"
            )
            return
        result = search_index_check(sample_size=options["sample"])
        self.stdout.write(
            f"database {result.database_count} orders, index {result.index_count} documents, "
            f"{result.sampled} sampled, {len(result.mismatches)} mismatched"
        )
        for mismatch in result.mismatches[:20]:
            self.stdout.write(f"  {mismatch['order_no']}: database {mismatch['database']} index {mismatch['index']}")
        if not result.ok:
            raise CommandError("The search index does not match the database; run search_index --rebuild.")
