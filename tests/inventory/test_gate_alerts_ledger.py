import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from apps.core.models import Alert
from apps.inventory.gate import gate_check, gate_counter, gate_enabled, gate_sync
from apps.inventory.models import Stock
from apps.inventory.services import (
    InsufficientStock,
    StockRequest,
    stock_adjust,
    stock_low_alerts_scan,
    stock_release,
    stock_reserve,
)
from apps.inventory.tasks import hot_sku_gate_sync_task, low_stock_scan_task
from tests.inventory.factories import SkuFactory, WarehouseFactory
from tests.inventory.helpers import stock_of

pytestmark = pytest.mark.django_db


def _reserve(sku, reference, quantity=1, **kwargs):
    return stock_reserve(
        reference=reference, requests=[StockRequest(sku_id=sku.pk, quantity=quantity)], operator="test", **kwargs
    )


@pytest.fixture
def hot(sku):
    sku.is_hot = True
    sku.save()
    return sku


def test_gate_counts_only_active_online_warehouses_and_skips_cold_skus(hot, warehouse, receive):
    cold = SkuFactory()
    receive(hot, warehouse, 7)
    receive(hot, WarehouseFactory(accepts_online_orders=False), 50)
    receive(cold, warehouse, 3)
    assert hot_sku_gate_sync_task() == 1
    assert gate_counter(hot.pk) == 7
    assert gate_counter(cold.pk) is None


def test_a_reservation_the_database_refuses_gives_the_count_back(hot, warehouse, receive):
    small = WarehouseFactory()
    receive(hot, warehouse, 10)
    receive(hot, small, 1)
    gate_sync()
    with pytest.raises(InsufficientStock):
        _reserve(hot, "SO1", 2, warehouse_ids=[small.pk])
    assert gate_counter(hot.pk) == 11
    assert stock_of(hot, small).reserved == 0


def test_a_repeated_reservation_does_not_take_the_count_twice(hot, warehouse, receive):
    receive(hot, warehouse, 10)
    gate_sync()
    _reserve(hot, "SO1", 3)
    _reserve(hot, "SO1", 3)
    assert gate_counter(hot.pk) == 7


def test_a_repeated_reservation_of_all_hot_stock_returns_the_first_one(hot, warehouse, receive):
    receive(hot, warehouse, 3)
    gate_sync()
    first = _reserve(hot, "SO1", 3)
    assert gate_counter(hot.pk) == 0
    assert _reserve(hot, "SO1", 3) == first
    assert gate_counter(hot.pk) == 0
    assert stock_of(hot, warehouse).reserved == 3
    with pytest.raises(InsufficientStock):
        _reserve(hot, "SO2", 1)


def test_a_released_reference_is_gated_again(hot, warehouse, receive, django_capture_on_commit_callbacks):
    receive(hot, warehouse, 3)
    gate_sync()
    with django_capture_on_commit_callbacks(execute=True):
        _reserve(hot, "SO1", 3)
        stock_release(reference="SO1", operator="test")
    _reserve(hot, "SO2", 3)
    with CaptureQueriesContext(connection) as queries, pytest.raises(InsufficientStock):
        _reserve(hot, "SO1", 1)
    assert len(queries) == 0
    assert gate_counter(hot.pk) == 0


def test_stock_changes_move_the_counter_after_commit(hot, warehouse, receive, django_capture_on_commit_callbacks):
    receive(hot, warehouse, 10)
    gate_sync()
    with django_capture_on_commit_callbacks(execute=True):
        _reserve(hot, "SO1", 4)
        stock_release(reference="SO1", operator="test")
        stock_adjust(sku_id=hot.pk, warehouse_id=warehouse.pk, delta=5, reference="ST1", operator="wh")
    assert gate_counter(hot.pk) == 15


def test_a_sku_no_longer_hot_loses_its_counter(hot, warehouse, receive):
    receive(hot, warehouse, 5)
    gate_sync()
    hot.is_hot = False
    hot.save()
    gate_sync()
    assert gate_counter(hot.pk) is None


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_without_redis_the_gate_is_off_and_the_database_still_guards(hot, warehouse, receive):
    receive(hot, warehouse, 1)
    assert not gate_enabled()
    assert gate_sync() == 0
    _reserve(hot, "SO1")
    with pytest.raises(InsufficientStock):
        _reserve(hot, "SO2")


def test_low_stock_alert_once_per_crossing(sku, warehouse, receive):
    receive(sku, warehouse, 60)
    stock = Stock.objects.get(sku=sku, warehouse=warehouse)
    stock.low_stock_threshold = 50
    stock.save(update_fields=["low_stock_threshold"])

    assert low_stock_scan_task() == (0, 0)
    _reserve(sku, "SO1", 10)
    assert stock_low_alerts_scan(actor="test") == (1, 0)
    assert stock_low_alerts_scan(actor="test") == (0, 0)
    alert = Alert.objects.get(kind="low_stock")
    assert alert.is_open
    assert alert.details["sku_code"] == sku.code
    assert alert.details["available"] == 50

    stock_release(reference="SO1", operator="test")
    assert stock_low_alerts_scan(actor="test") == (0, 1)
    alert.refresh_from_db()
    assert not alert.is_open

    _reserve(sku, "SO2", 20)
    assert stock_low_alerts_scan(actor="test") == (1, 0)
    assert Alert.objects.filter(kind="low_stock").count() == 2


def test_check_stock_ledger_is_clean_then_reports_a_corrupted_row(sku, warehouse, receive, capsys):
    receive(sku, warehouse, 5)
    _reserve(sku, "SO1", 2)
    call_command("check_stock_ledger")
    assert "consistent" in capsys.readouterr().out

    Stock.objects.filter(sku=sku, warehouse=warehouse).update(on_hand=9)
    with pytest.raises(CommandError):
        call_command("check_stock_ledger")
    out = capsys.readouterr().out
    assert f"{sku.code}@{warehouse.code}: ledger on_hand expected 9, found 5" in out


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2},
        }
    }
)
def test_an_unreachable_redis_leaves_the_database_to_decide(hot, warehouse, receive):
    receive(hot, warehouse, 1)
    _reserve(hot, "SO1")
    with pytest.raises(InsufficientStock):
        _reserve(hot, "SO2")
    assert stock_of(hot, warehouse).reserved == 1


def test_gate_check_refuses_only_a_short_hot_sku_and_takes_nothing(hot, warehouse, receive):
    cold = SkuFactory()
    receive(hot, warehouse, 3)
    gate_sync()
    gate_check({hot.pk: 3, cold.pk: 100})
    with pytest.raises(InsufficientStock) as raised:
        gate_check({hot.pk: 4, cold.pk: 100})
    assert [(s.sku_id, s.sku_code, s.available) for s in raised.value.shortages] == [(hot.pk, hot.code, 3)]
    assert gate_counter(hot.pk) == 3


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2},
        }
    }
)
def test_gate_check_lets_everything_through_when_redis_is_down(hot):
    gate_check({hot.pk: 1000})
