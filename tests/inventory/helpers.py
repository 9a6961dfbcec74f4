"""Helpers shared by the inventory tests."""

import threading

from django.db import connection

from apps.inventory.models import Stock


def stock_of(sku, warehouse) -> Stock:
    return Stock.objects.get(sku=sku, warehouse=warehouse)


def run_in_threads(target, count: int) -> list:
    """Run ``target(i)`` in ``count`` threads that start together; returns results in order.

    Each thread closes its own database connection, as a worker process would.
    """
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread raised
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
