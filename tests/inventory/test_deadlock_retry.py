"""A real InnoDB deadlock between two transactions: the victim is retried, nobody sees 1213."""

import threading

import pytest
from django.db import transaction

from apps.inventory.models import Stock
from apps.inventory.services import retry_on_deadlock
from tests.inventory.factories import SkuFactory
from tests.inventory.helpers import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_deadlock_victim_is_retried_and_both_callers_succeed(warehouse, receive):
    first = receive(SkuFactory(), warehouse, 5)
    second = receive(SkuFactory(), warehouse, 5)
    both_hold_one = threading.Barrier(2)
    attempts = {0: 0, 1: 0}

    @retry_on_deadlock
    def lock_both(i: int) -> int:
        attempts[i] += 1
        order = [first.pk, second.pk] if i == 0 else [second.pk, first.pk]
        with transaction.atomic():
            Stock.objects.select_for_update().get(pk=order[0])
            if attempts[i] == 1:
                both_hold_one.wait(timeout=10)
            Stock.objects.select_for_update().get(pk=order[1])
            Stock.objects.filter(pk__in=order).update(low_stock_threshold=10 + i)
        return attempts[i]

    results = run_in_threads(lock_both, 2)

    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(results) == [1, 2]
