from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from apps.aftersales.models import AfterSale, WorkOrder
from apps.aftersales.services.aftersales import AfterSaleLineInput, aftersale_approve, aftersale_create
from apps.aftersales.services.workorders import workorder_create, workorder_resolve
from tests.aftersales.factories import deliver, pay, place_order, stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def aftersale(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    return aftersale_create(
        order_no=order.order_no,
        type="return_refund",
        lines=[AfterSaleLineInput(order.lines.get().pk, 2)],
        amount=Decimal("100.00"),
        reason="Wrong colour",
        source="staff",
        actor="admin:test",
    )


def _act(client, action, objs, **extra):
    url = reverse("admin:aftersales_aftersale_changelist")
    return client.post(url, {"action": action, "_selected_action": [o.pk for o in objs], **extra}, follow=True)


def test_approve_then_receive_through_the_inspection_form(admin_client, aftersale, shirt, warehouse):
    form_page = _act(admin_client, "approve", [aftersale])
    assert 'name="amount"' in form_page.content.decode()
    assert AfterSale.objects.get().status == "requested"  # the form page changes nothing

    _act(admin_client, "approve", [aftersale], apply="1", amount="100.00", warehouse="", remark="")
    aftersale.refresh_from_db()
    assert aftersale.status == "awaiting_return"
    assert aftersale.receiving_warehouse == warehouse  # defaulted to the shipping warehouse

    form_page = _act(admin_client, "receive", [aftersale])
    line = aftersale.lines.get()
    assert f"line_{line.pk}" in form_page.content.decode()

    _act(admin_client, "receive", [aftersale], apply="1", warehouse=warehouse.pk, **{f"line_{line.pk}": "sellable"})
    aftersale.refresh_from_db()
    assert aftersale.status == "received"
    assert stock_of(shirt, warehouse).on_hand == 20


def test_reject_asks_for_a_reason_and_refusals_are_shown(admin_client, aftersale):
    _act(admin_client, "reject", [aftersale], apply="1", reason="Worn and washed")
    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.reject_reason) == ("rejected", "Worn and washed")

    response = _act(admin_client, "refund", [aftersale])
    messages = [str(m) for m in response.context["messages"]]
    assert any("cannot" in m for m in messages)
    assert AfterSale.objects.get().status == "rejected"


def test_phone_is_masked_without_the_personal_data_permission(client, admin_client, aftersale):
    phone = aftersale.order.recipient_phone
    url = reverse("admin:aftersales_aftersale_change", args=[aftersale.pk])
    assert phone in admin_client.get(url).content.decode()

    clerk = User.objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_aftersale"))
    client.force_login(clerk)
    page = client.get(url).content.decode()
    assert phone not in page
    assert f"{phone[:3]}****{phone[-4:]}" in page


def test_changelist_query_count_does_not_grow_with_rows(admin_client, aftersale, django_assert_max_num_queries):
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:test")
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("admin:aftersales_aftersale_changelist")).status_code == 200


def test_work_order_created_in_admin_gets_its_due_time_and_overdue_is_highlighted(admin_client, admin_user):
    url = reverse("admin:aftersales_workorder_add")
    response = admin_client.post(
        url, {"title": "Parcel stuck", "description": "", "category": "logistics", "priority": "urgent"}
    )
    assert response.status_code == 302
    ticket = WorkOrder.objects.get()
    assert ticket.due_at - ticket.created_at == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))

    late = workorder_create(title="Late", category="complaint", actor="admin:test")
    WorkOrder.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
    response = admin_client.get(reverse("admin:aftersales_workorder_changelist") + "?overdue=yes")
    assert [w.number for w in response.context["cl"].result_list] == [late.number]
    assert "#ba2121" in response.content.decode()


def test_approve_form_approves_a_lower_amount_and_refuses_more_than_requested(admin_client, aftersale):
    response = _act(admin_client, "approve", [aftersale], apply="1", amount="100.01", remark="")
    assert "amount" in response.context["form"].errors
    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.approved_amount) == ("requested", Decimal("0.00"))

    _act(admin_client, "approve", [aftersale], apply="1", amount="60.00", remark="Tag missing: 60 agreed by phone")
    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.approved_amount) == ("awaiting_return", Decimal("60.00"))
    assert aftersale.logs.filter(remark="Tag missing: 60 agreed by phone", operator="admin:admin").exists()


def test_processing_steps_need_the_process_permission(client, aftersale):
    clerk = User.objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_aftersale"), Permission.objects.get(codename="change_aftersale")
    )
    client.force_login(clerk)
    changelist = client.get(reverse("admin:aftersales_aftersale_changelist"))
    assert 'value="approve"' not in changelist.content.decode()
    assert 'value="refund"' not in changelist.content.decode()

    _act(client, "approve", [aftersale], apply="1", amount="100.00", remark="")
    assert AfterSale.objects.get().status == "requested"

    clerk.user_permissions.add(Permission.objects.get(codename="process_aftersale"))
    clerk = User.objects.get(pk=clerk.pk)  # drop the permission cache
    client.force_login(clerk)
    _act(client, "approve", [aftersale], apply="1", amount="100.00", remark="")
    assert AfterSale.objects.get().status == "awaiting_return"


def test_return_parcel_is_recorded_through_the_form_page(admin_client, aftersale):
    early = _act(admin_client, "return_shipment", [aftersale], apply="1", carrier="SF", tracking_no="SF1")
    assert any("not waiting for a return parcel" in str(m) for m in early.context["messages"])

    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:test")
    form_page = _act(admin_client, "return_shipment", [aftersale])
    assert 'name="tracking_no"' in form_page.content.decode()
    aftersale.refresh_from_db()
    assert aftersale.return_tracking_no == ""  # the form page changes nothing

    incomplete = _act(admin_client, "return_shipment", [aftersale], apply="1", carrier="SF", tracking_no="")
    assert "tracking_no" in incomplete.context["form"].errors

    _act(admin_client, "return_shipment", [aftersale], apply="1", carrier="SF", tracking_no="SF123456")
    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.return_carrier, aftersale.return_tracking_no) == (
        "awaiting_return",
        "SF",
        "SF123456",
    )
    assert aftersale.logs.filter(operator="admin:admin", remark__contains="SF123456").exists()


def test_resolved_work_order_is_reopened_by_the_admin_action(admin_client):
    ticket = workorder_create(title="Refund not received", category="refund", actor="admin:test")
    workorder_resolve(number=ticket.number, actor="admin:test")

    url = reverse("admin:aftersales_workorder_changelist")
    admin_client.post(url, {"action": "reopen", "_selected_action": [ticket.pk]}, follow=True)
    ticket = WorkOrder.objects.get(pk=ticket.pk)
    assert (ticket.status, ticket.resolved_at) == ("in_progress", None)
    assert ticket.comments.filter(author="admin:admin").exists()

    again = admin_client.post(url, {"action": "reopen", "_selected_action": [ticket.pk]}, follow=True)
    assert any("cannot be changed" in str(m) for m in again.context["messages"])
    assert WorkOrder.objects.get(pk=ticket.pk).status == "in_progress"
