"""The finance console: refunds only with payments.issue_refund, statement upload, list pages."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.payments.models import PaymentNotification, Refund, Statement
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/payments/payment/"


def finance_user(*codenames: str) -> User:
    user = User.objects.create_user("finance", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="payments", codename__in=codenames))
    return user


def test_refund_action_needs_the_issue_refund_permission(client, paid_payment):
    payment = paid_payment(amount="40.00")
    client.force_login(finance_user("view_payment"))

    response = client.post(
        CHANGELIST,
        {
            "action": "refund",
            "_selected_action": [payment.pk],
            "apply": "1",
            "amount": "10.00",
            "reason": "x",
            "reference": "adm-1",
        },
    )

    assert response.status_code in (200, 302)
    assert not Refund.objects.exists()


def test_refund_action_refunds_once_even_when_submitted_twice(client, paid_payment):
    payment = paid_payment(amount="40.00")
    client.force_login(finance_user("view_payment", "issue_refund"))
    form = {"action": "refund", "_selected_action": [payment.pk], "reason": "goodwill"}

    page = client.post(CHANGELIST, form)
    assert page.status_code == 200
    reference = page.context["form"].initial["reference"]
    submitted = {**form, "apply": "1", "amount": "15.00", "reference": reference}
    client.post(CHANGELIST, submitted)
    client.post(CHANGELIST, submitted)

    refund = Refund.objects.get()
    assert (refund.amount, refund.reference, refund.requested_by) == (Decimal("15.00"), reference, "admin:finance")


def test_refund_action_shows_the_refusal(client, paid_payment):
    payment = paid_payment(amount="40.00")
    client.force_login(finance_user("view_payment", "issue_refund"))

    response = client.post(
        CHANGELIST,
        {
            "action": "refund",
            "_selected_action": [payment.pk],
            "apply": "1",
            "amount": "40.01",
            "reason": "x",
            "reference": "adm-2",
        },
        follow=True,
    )

    assert "exceed" in " ".join(str(m) for m in response.context["messages"])
    assert not Refund.objects.exists()


def test_statement_upload_records_the_differences(admin_client):
    bill = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注\n"
        "`2026-11-20 10:00:00,`wx1,`190,`0,`,`4200001,`NOPE-1,`o1,`NATIVE,`SUCCESS,`CMB,`CNY,`12.34,`0.00,`0,`0,"
        "`0.00,`0.00,`,`,`goods,`,`0.07,`0.60%,`12.34,`0.00,`\n"
    ).encode()
    response = admin_client.post(
        "/admin/payments/statement/import/",
        {"provider": "wechat", "bill_date": "2026-11-20", "file": SimpleUploadedFile("bill.csv", bill)},
    )

    assert response.status_code == 302
    statement = Statement.objects.get()
    assert (statement.line_count, statement.mismatch_count) == (1, 1)


def test_payment_list_runs_a_fixed_number_of_queries(admin_client):
    PaymentFactory.create_batch(3, paid_at=timezone.now())
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(CHANGELIST).status_code == 200
    PaymentFactory.create_batch(10)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(CHANGELIST).status_code == 200
    assert len(many) == len(few)
    assert admin_client.get("/admin/payments/refund/").status_code == 200
    assert admin_client.get("/admin/payments/reconciliationresult/").status_code == 200
    assert admin_client.get("/admin/payments/statement/").status_code == 200


ALIPAY_BODY = (
    "out_trade_no=P20261122001&trade_status=TRADE_SUCCESS&total_amount=88.00"
    "&buyer_id=2088102177846875&buyer_logon_id=zhangsan%40example.com"
)
WECHAT_BODY = '{"out_trade_no": "P20261122002", "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}'


@pytest.mark.parametrize(
    ("provider", "body", "payer"),
    [("alipay", ALIPAY_BODY, ["2088102177846875", "zhangsan"]), ("wechat", WECHAT_BODY, ["oUpF8uMuAJO"])],
    ids=["alipay", "wechat"],
)
def test_raw_notifications_mask_the_payer_without_the_personal_data_permission(client, provider, body, payer):
    notification = PaymentNotification.objects.create(provider=provider, out_trade_no="P1", body=body)
    url = f"/admin/payments/paymentnotification/{notification.pk}/change/"
    clerk = finance_user("view_paymentnotification")
    client.force_login(clerk)

    masked = client.get(url).content.decode()
    clerk.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    shown = client.get(url).content.decode()

    assert "P2026112200" in masked
    assert not any(value in masked for value in payer)
    assert all(value in shown for value in payer)
