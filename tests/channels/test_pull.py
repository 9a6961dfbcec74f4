"""Scheduled pulls: resuming after a failure midway, one pull per shop, alerts, due shops."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.channels.adapters import TransientAdapterError, adapter_for
from apps.channels.models import PullRun, RawOrder
from apps.channels.services import shop_pull, shops_due_for_pull
from apps.channels.simulator.platforms import order_updated_at
from apps.channels.tasks import shop_pull_task
from apps.core.models import Alert
from apps.shops.models import Shop
from tests.channels.conftest import platform_order


@pytest.mark.django_db
def test_a_pull_failing_midway_resumes_without_loss_or_duplicates(make_shop, simulator, monkeypatch):
    ps = make_shop("tmall")
    start_cursor = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    Shop.objects.filter(pk=ps.shop.pk).update(pull_cursor=start_cursor)
    # Sub-windows of an hour from cursor - 5 min: P0 in the 1st, P1..P5 in the 2nd, P6 in the 3rd.
    for order_id, minutes_ago in (("P0", 150), ("P1", 120), ("P2", 110), ("P3", 100), ("P4", 90), ("P5", 80)):
        simulator.put_order(ps.shop.app_key, platform_order(ps, order_id, minutes_ago=minutes_ago))
    simulator.put_order(ps.shop.app_key, platform_order(ps, "P6", minutes_ago=30))
    monkeypatch.setattr("apps.channels.adapters.tmall.TmallAdapter.page_size", 2)
    simulator.faults["tmall"].fail_page = 2  # the 2nd sub-window: page 3 (P5) is read, page 2 fails

    with pytest.raises(TransientAdapterError):
        shop_pull(shop_id=ps.shop.pk, actor="test")

    saved = set(RawOrder.objects.values_list("platform_order_id", flat=True))
    assert saved == {"P0", "P5"}
    first_sub_window_end = start_cursor - timedelta(minutes=5) + timedelta(hours=1)
    # Past the 1st sub-window, not into the 2nd: P5 is saved but P1..P4 before it are not.
    assert Shop.objects.get(pk=ps.shop.pk).pull_cursor == first_sub_window_end
    failed_run = PullRun.objects.get()
    assert (failed_run.status, failed_run.pages, failed_run.orders_pulled) == ("failed", 2, 2)

    simulator.reset_faults("tmall")
    run = shop_pull(shop_id=ps.shop.pk, actor="test")

    assert run.status == PullRun.Status.SUCCEEDED
    assert sorted(RawOrder.objects.values_list("platform_order_id", flat=True)) == [f"P{i}" for i in range(7)]
    assert Shop.objects.get(pk=ps.shop.pk).pull_cursor == run.window_end
    assert run.window_start == first_sub_window_end - timedelta(minutes=5)  # the overlap


@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["tmall", "jd", "douyin", "wechat"])
def test_an_order_updated_between_two_page_requests_makes_the_pull_skip_no_other(
    platform, make_shop, simulator, monkeypatch
):
    """Paging forwards by page number, M0 leaving page 1 after it was read moved M2 onto
    page 1 before page 2 was asked for: M2 was never read and the cursor moved past it."""
    ps = make_shop(platform)
    Shop.objects.filter(pk=ps.shop.pk).update(pull_cursor=timezone.now() - timedelta(minutes=50))
    for index in range(5):
        simulator.put_order(ps.shop.app_key, platform_order(ps, f"M{index}", minutes_ago=45 - index * 5))
    monkeypatch.setattr(type(adapter_for(ps.shop)), "page_size", 2)
    simulator.faults[platform].updates_after_page = 1
    simulator.faults[platform].updates = {"M0": {}}  # the buyer changes M0: a new update time

    run = shop_pull(shop_id=ps.shop.pk, actor="test")

    assert run.status == PullRun.Status.SUCCEEDED
    assert simulator.faults[platform].updates_after_page is None  # the update did happen mid-pull
    saved = set(RawOrder.objects.values_list("platform_order_id", flat=True))
    assert {"M1", "M2", "M3", "M4"} <= saved
    # M0 was updated after the window's end: the cursor stops before its new update time, so
    # the next pull reads the change.
    cursor = Shop.objects.get(pk=ps.shop.pk).pull_cursor
    assert cursor == run.window_end
    assert cursor < order_updated_at(platform, simulator.shops[ps.shop.app_key].orders["M0"])


@pytest.mark.django_db
def test_three_failed_pulls_raise_one_alert_and_a_success_resolves_it(make_shop, simulator):
    ps = make_shop("douyin")
    simulator.faults["douyin"].fail_next = 3

    for _attempt in range(3):
        with pytest.raises(TransientAdapterError):
            shop_pull(shop_id=ps.shop.pk, actor="test")
        if _attempt < 2:
            assert not Alert.objects.filter(kind="channel_pull").exists()

    alert = Alert.objects.get(kind="channel_pull")
    assert alert.is_open
    assert PullRun.objects.filter(status="failed").count() == 3

    shop_pull(shop_id=ps.shop.pk, actor="test")

    alert.refresh_from_db()
    assert not alert.is_open
    assert Shop.objects.get(pk=ps.shop.pk).pull_failures == 0


@pytest.mark.django_db
def test_only_shops_whose_interval_elapsed_are_due(make_shop):
    now = timezone.now()
    due = make_shop("douyin", pull_interval_minutes=5).shop
    recent = make_shop("tmall", pull_interval_minutes=10).shop
    disabled = make_shop("jd", pull_enabled=False).shop
    Shop.objects.filter(pk=due.pk).update(last_pull_at=now - timedelta(minutes=6))
    Shop.objects.filter(pk=recent.pk).update(last_pull_at=now - timedelta(minutes=6))

    ids = shops_due_for_pull(now=now)

    assert due.pk in ids
    assert recent.pk not in ids
    assert disabled.pk not in ids


@pytest.mark.django_db(transaction=True)
def test_two_pulls_of_one_shop_never_run_at_once(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "C1"))
    hold = threading.Event()
    simulator.faults["jd"].hold = hold
    results = {}

    def first_pull():
        try:
            results["first"] = shop_pull(shop_id=ps.shop.pk, actor="test:first")
        finally:
            connection.close()

    thread = threading.Thread(target=first_pull)
    thread.start()
    try:
        assert simulator.faults["jd"].arrived.wait(timeout=10)  # the first pull is inside the platform call
        results["second"] = shop_pull(shop_id=ps.shop.pk, actor="test:second")
    finally:
        hold.set()
        thread.join(timeout=30)

    assert results["second"] is None
    assert results["first"].status == PullRun.Status.SUCCEEDED
    assert PullRun.objects.count() == 1
    assert list(RawOrder.objects.values_list("platform_order_id", flat=True)) == ["C1"]


@pytest.mark.django_db
def test_an_unreadable_order_is_kept_for_staff_and_does_not_stop_the_pull(make_shop, simulator):
    ps = make_shop("douyin")
    Shop.objects.filter(pk=ps.shop.pk).update(pull_cursor=timezone.now() - timedelta(hours=1))
    broken = platform_order(ps, "U2", minutes_ago=20)
    del broken["sku_order_list"]
    no_id = platform_order(ps, "U3", minutes_ago=15)
    del no_id["order_id"]
    for order in (platform_order(ps, "U1", minutes_ago=30), broken, no_id, platform_order(ps, "U4", minutes_ago=10)):
        simulator.put_order(ps.shop.app_key, order)

    run = shop_pull(shop_id=ps.shop.pk, actor="test")

    assert run.status == PullRun.Status.SUCCEEDED
    assert Shop.objects.get(pk=ps.shop.pk).pull_cursor == run.window_end  # later pulls are not held back
    statuses = dict(RawOrder.objects.values_list("platform_order_id", "status"))
    assert statuses == {"U1": "pending", "U2": "failed", "U4": "pending"}
    unreadable = RawOrder.objects.get(platform_order_id="U2")
    assert unreadable.error_code == "invalid_payload"
    assert "sku_order_list" in unreadable.error
    assert unreadable.payload == broken
    assert Alert.objects.get(kind="channel_pull_unreadable").is_open  # the one without an id

    simulator.put_order(ps.shop.app_key, platform_order(ps, "U2", minutes_ago=5))  # the platform fixes it
    shop_pull(shop_id=ps.shop.pk, actor="test")

    fixed = RawOrder.objects.get(platform_order_id="U2")
    assert (fixed.status, fixed.error_code) == ("pending", "")


@pytest.mark.django_db
def test_a_queued_pull_of_a_shop_switched_off_meanwhile_does_nothing(make_shop, simulator):
    ps = make_shop("tmall")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "OFF1"))
    Shop.objects.filter(pk=ps.shop.pk).update(pull_enabled=False)

    assert shop_pull(shop_id=ps.shop.pk, actor="test") is None

    Shop.objects.filter(pk=ps.shop.pk).update(pull_enabled=True, is_active=False)
    assert shop_pull(shop_id=ps.shop.pk, actor="test") is None
    assert not PullRun.objects.exists()
    assert not RawOrder.objects.exists()
    assert simulator.calls == []


@pytest.mark.django_db
def test_the_pull_task_retries_after_10_30_60_seconds_then_gives_up_with_one_alert(make_shop, simulator, monkeypatch):
    ps = make_shop("wechat")
    simulator.faults["wechat"].fail_next = 10
    simulator.faults["wechat"].mode = "platform"  # the platform's "system busy"
    countdowns = []
    retry = shop_pull_task.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr(shop_pull_task, "retry", recording_retry)

    result = shop_pull_task.apply(kwargs={"shop_id": ps.shop.pk})

    assert result.failed() and isinstance(result.result, TransientAdapterError)
    assert countdowns[:3] == [10, 30, 60]  # the 4th failure asks again but max_retries=3 ends it
    assert PullRun.objects.filter(shop=ps.shop, status="failed").count() == 4
    alert = Alert.objects.get(kind="channel_pull")
    assert alert.is_open and alert.occurrences == 2  # opened by the 3rd failure, counted again by the 4th

    simulator.reset_faults("wechat")
    assert shop_pull_task.apply(kwargs={"shop_id": ps.shop.pk}).successful()  # the next scheduled run
    alert.refresh_from_db()
    assert not alert.is_open


@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["tmall", "jd", "douyin", "wechat"])
def test_a_pull_with_a_revoked_token_fails_at_once_without_retries_and_alerts(platform, make_shop, simulator):
    from apps.channels.adapters import PermanentAdapterError
    from apps.channels.services import shop_set_access_token

    ps = make_shop(platform)
    simulator.put_order(ps.shop.app_key, platform_order(ps, "R1"))
    shop_set_access_token(shop=ps.shop, token="revoked", expires_at=None, actor="test")

    result = shop_pull_task.apply(kwargs={"shop_id": ps.shop.pk})

    assert result.failed() and isinstance(result.result, PermanentAdapterError)
    assert len(simulator.requests) == 1  # neither the adapter nor the task tried again
    run = PullRun.objects.get(shop=ps.shop)
    assert run.status == PullRun.Status.FAILED and run.error
    alert = Alert.objects.get(kind="channel_pull")  # a permanent failure alerts on the first one
    assert alert.is_open and ps.shop.code in alert.message
    assert not RawOrder.objects.exists()

    shop = Shop.objects.get(pk=ps.shop.pk)
    shop_set_access_token(shop=shop, token=simulator.shops[shop.app_key].access_token, expires_at=None, actor="t")
    assert shop_pull_task.apply(kwargs={"shop_id": ps.shop.pk}).successful()
    assert list(RawOrder.objects.values_list("platform_order_id", flat=True)) == ["R1"]
    alert.refresh_from_db()
    assert not alert.is_open
