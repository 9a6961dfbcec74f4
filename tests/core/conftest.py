import pytest

from apps.core import outbox


@pytest.fixture
def consumers():
    """Register test consumers for one test only; the registry is restored afterwards."""
    saved = dict(outbox._consumers)
    yield outbox.outbox_consumer
    outbox._consumers.clear()
    outbox._consumers.update(saved)
