"""Deployment safety: Alipay without a seller id outside DEBUG stops ``manage.py check``."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def test_alipay_without_seller_id_outside_debug_fails_the_check(settings):
    settings.DEBUG = False
    settings.ALIPAY_APP_ID = "2021000000000001"
    settings.ALIPAY_SELLER_ID = ""

    with pytest.raises(SystemCheckError, match=r"payments\.E001"):
        call_command("check")


@pytest.mark.parametrize(
    ("debug", "app_id", "seller_id"),
    [
        (False, "2021000000000001", "2088000000000001"),  # configured in full
        (False, "", ""),  # Alipay not used
        (True, "2021000000000001", ""),  # local development
    ],
)
def test_the_check_passes_otherwise(settings, debug, app_id, seller_id):
    settings.DEBUG = debug
    settings.ALIPAY_APP_ID = app_id
    settings.ALIPAY_SELLER_ID = seller_id
    out, err = StringIO(), StringIO()

    call_command("check", stdout=out, stderr=err)

    assert "payments.E001" not in out.getvalue() + err.getvalue()
