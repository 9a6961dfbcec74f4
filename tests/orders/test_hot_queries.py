"""The hot order queries stay on their indexes: the same EXPLAIN checks as the 10-million-order
run in docs/SCALING.md, on a table the same command fills with fewer orders."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.orders.hot_queries import HotQuery, check_hot_queries, check_plan
from apps.orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def test_the_command_fails_on_an_empty_table():
    with pytest.raises(CommandError):
        call_command("explain_hot_queries")


@pytest.fixture(scope="module")
def generated(django_db_setup, django_db_blocker):
    """One generated table for the module (committed: ANALYZE TABLE commits anyway), removed after."""
    with django_db_blocker.unblock():
        call_command("orders_generate", count=40_000, shops=8, days=60, chunk=40_000, stdout=StringIO())
        yield Order.objects.count()
        # Generated orders have no lines, logs or payments: one DELETE, no cascade collection.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM orders_order WHERE order_no LIKE %s", ["9%"])
            cursor.execute("DELETE FROM channels_shop WHERE code LIKE %s", ["gen-shop-%"])


def test_the_generator_writes_orders_in_every_status_spread_over_shops_and_days(generated):
    assert generated == 40_000
    statuses = set(Order.objects.values_list("status", flat=True).distinct())
    assert statuses == set(OrderStatus.values) - {OrderStatus.DELIVERY_FAILED}
    assert Order.objects.values("shop_id").distinct().count() == 8
    assert not Order.objects.filter(status=OrderStatus.COMPLETED, completed_at__isnull=True).exists()
    assert not Order.objects.filter(paid_at__isnull=True, paid_amount__gt=0).exists()
    span = Order.objects.order_by("created_at").first(), Order.objects.order_by("-created_at").first()
    assert (span[1].created_at - span[0].created_at).days >= 59


def test_every_hot_query_uses_its_index(generated):
    checks = check_hot_queries()

    assert len(checks) == 14
    failures = {check.query.name: (check.problems, check.plan) for check in checks if not check.ok}
    assert failures == {}
    out = StringIO()
    call_command("explain_hot_queries", stdout=out)
    assert out.getvalue().count(" ok\n") == 14


def test_a_query_off_its_index_is_reported(generated):
    by_address = HotQuery("by address", Order.objects.filter(address="世纪大道 100 号", city="北京"), (("address",),))
    wrong_index = HotQuery(
        "by buyer, expecting the phone index", Order.objects.filter(buyer_id="gen-buyer-7"), (("recipient_phone",),)
    )

    assert check_plan(by_address).problems == ["full table scan"]
    assert check_plan(wrong_index).problems[0].startswith("uses ")
