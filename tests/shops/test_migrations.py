"""A database migrated before the shop had its own app upgrades without a table changing:
``shops.0001_initial`` replaces the channels migrations that made the shop, so only the
content-type move runs, and permissions keep their rows."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from apps.shops.models import Shop
from tests.inventory.factories import WarehouseFactory
from tests.shops.factories import ShopFactory


def _as_before_the_move() -> None:
    """What the previous release's migrations left: channels recorded the shop, and the shop's
    content type (so its permissions) was channels'."""
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="shops").delete()
    recorder.record_applied("channels", "0001_initial")
    recorder.record_applied("channels", "0003_shop_access_token")
    ContentType.objects.filter(app_label="shops", model="shop").update(app_label="channels")
    ContentType.objects.clear_cache()


@pytest.fixture
def clear_content_types():
    yield
    ContentType.objects.clear_cache()


@pytest.mark.django_db
def test_an_old_database_upgrades_with_its_shops_and_permissions_intact(clear_content_types):
    shop = ShopFactory(code="old-shop")
    warehouse = WarehouseFactory()
    shop.warehouses.add(warehouse)
    _as_before_the_move()
    permissions = set(
        Permission.objects.filter(content_type__app_label="channels", content_type__model="shop").values_list(
            "pk", "codename"
        )
    )

    # The release that moved the shop: only its content-type move runs (the tables exist). Later
    # migrations change the schema, which a test transaction cannot hold on MariaDB.
    target = ("shops", "0002_shop_content_type")
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan([target])
    assert [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan] == [
        "shops.0002_shop_content_type"
    ]

    call_command("migrate", *target, verbosity=0)

    ContentType.objects.clear_cache()
    moved = set(
        Permission.objects.filter(content_type__app_label="shops", content_type__model="shop").values_list(
            "pk", "codename"
        )
    )
    assert {"add_shop", "change_shop", "delete_shop", "view_shop"} <= {codename for _pk, codename in permissions}
    assert moved == permissions
    assert list(Shop.objects.get(pk=shop.pk).warehouses.all()) == [warehouse]
    applied = MigrationRecorder(connection).applied_migrations()
    assert ("shops", "0001_initial") in applied
    assert ("shops", "0002_shop_content_type") in applied
