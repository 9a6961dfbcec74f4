"""Outbox relays run at the same time, as two workers' beat jobs would."""

import threading

from django.db import connection

from apps.core.outbox import outbox_relay


def relays_in_parallel(*, limit: int, relays: int = 2) -> list[Exception]:
    """Run ``relays`` relays together until each finds nothing to do; the errors they raised."""
    start = threading.Barrier(relays)
    errors = []

    def relay():
        try:
            start.wait()
            while outbox_relay(limit=limit):
                pass
        except Exception as exc:  # noqa: BLE001 - returned to the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(relays)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
