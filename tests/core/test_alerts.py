import pytest

from apps.core.alerts import alert_raise, alert_resolve
from apps.core.models import Alert
from tests.core.simulators import RecordingPeer

pytestmark = pytest.mark.django_db


def test_raising_an_open_alert_again_counts_occurrences():
    first, created_first = alert_raise(kind="low_stock", dedup_key="low_stock:sku-1", message="SKU-1 is low")
    again, created_again = alert_raise(kind="low_stock", dedup_key="low_stock:sku-1", message="SKU-1 is low")

    assert created_first is True
    assert created_again is False
    assert again.pk == first.pk
    assert again.occurrences == 2
    assert Alert.objects.count() == 1


def test_different_keys_open_different_alerts():
    alert_raise(kind="low_stock", dedup_key="low_stock:sku-1", message="SKU-1 is low")
    alert_raise(kind="low_stock", dedup_key="low_stock:sku-2", message="SKU-2 is low")
    assert Alert.objects.filter(open_key__isnull=False).count() == 2


def test_resolved_alert_reopens_as_a_new_one():
    first, _created = alert_raise(kind="pull_failed", dedup_key="pull:tmall-01", message="pull failed")

    assert alert_resolve(dedup_key="pull:tmall-01") == 1
    first.refresh_from_db()
    assert first.is_open is False
    assert first.resolved_at is not None
    assert alert_resolve(dedup_key="pull:tmall-01") == 0

    reopened, created = alert_raise(kind="pull_failed", dedup_key="pull:tmall-01", message="pull failed again")
    assert created is True
    assert reopened.pk != first.pk
    assert reopened.is_open is True
    assert reopened.occurrences == 1


def test_webhook_is_called_once_when_an_alert_opens(settings, django_capture_on_commit_callbacks):
    with RecordingPeer() as peer:
        settings.ALERT_WEBHOOK_URL = peer.url
        with django_capture_on_commit_callbacks(execute=True):
            alert_raise(
                kind="writeback",
                dedup_key="writeback:1",
                message="write-back stuck",
                details={"order_no": "1"},
                severity=Alert.Severity.ERROR,
            )
        with django_capture_on_commit_callbacks(execute=True):
            alert_raise(kind="writeback", dedup_key="writeback:1", message="write-back stuck")

    assert len(peer.requests) == 1
    assert peer.requests[0]["body"] == {
        "kind": "writeback",
        "severity": "error",
        "message": "write-back stuck",
        "details": {"order_no": "1"},
    }


def test_a_failing_webhook_does_not_lose_the_alert(settings, django_capture_on_commit_callbacks):
    with RecordingPeer(status=500) as peer:
        settings.ALERT_WEBHOOK_URL = peer.url
        with django_capture_on_commit_callbacks(execute=True):
            alert, created = alert_raise(kind="writeback", dedup_key="writeback:2", message="stuck")
    assert created is True
    assert len(peer.requests) == 1
    assert Alert.objects.get(pk=alert.pk).is_open
