"""The core console: stored idempotent responses replay orders, so their bodies are personal data."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.models import IdempotencyKey

pytestmark = pytest.mark.django_db


def _staff(username: str, *codenames: str) -> Client:
    user = User.objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def stored_response():
    return IdempotencyKey.objects.create(
        scope="shop:1",
        key="retry-7",
        fingerprint="f" * 64,
        response_status=201,
        response_body={"order_no": "SO2611220001", "recipient_phone": "13812345678", "address": "漕溪北路 88 号"},
        expires_at=timezone.now() + timedelta(hours=24),
    )


def test_the_response_body_is_hidden_without_the_personal_data_permission(stored_response):
    url = reverse("admin:core_idempotencykey_change", args=[stored_response.pk])

    page = _staff("clerk", "view_idempotencykey").get(url).content.decode()

    assert "retry-7" in page
    assert "13812345678" not in page and "漕溪北路" not in page and "SO2611220001" not in page


def test_the_response_body_is_shown_with_the_permission(stored_response):
    url = reverse("admin:core_idempotencykey_change", args=[stored_response.pk])

    page = _staff("lead", "view_idempotencykey", "view_personal_data").get(url).content.decode()

    assert "13812345678" in page and "SO2611220001" in page
