"""What the OMS charges for a storefront order: the SKUs with their prices (a shop's own price,
else the list price), the discount the shop may grant, and how many unpaid orders a buyer may
hold. ``services.create`` checks every storefront order with these before it writes; the audit
compares platform orders' prices with ``order_skus``.
"""

from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, Unprocessable
from apps.core.money import ZERO
from apps.inventory.models import Sku
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order, OrderLine, OrderStatus, ShopDiscountPolicy, ShopPrice


def order_skus(sku_ids, *, codes=(), shop=None, unpaid_buyer: str | None = None) -> dict[int, Sku]:
    """id -> Sku for ``sku_ids`` and ``codes`` in one query, each with ``catalogue_price``:
    the shop's own price (``ShopPrice``) where staff set one, else the list price.

    With ``unpaid_buyer`` the same statement counts that buyer's unpaid orders in ``shop``
    (``Sku.buyer_unpaid``, for ``order_check_unpaid_limit``): the plan's reads stay one.
    """
    skus = Sku.objects.filter(Q(pk__in=list(sku_ids)) | Q(code__in=list(codes)))
    if shop is not None:
        skus = skus.annotate(
            shop_price=Subquery(ShopPrice.objects.filter(shop=shop, sku=OuterRef("pk")).values("price")[:1])
        )
    if shop is not None and unpaid_buyer is not None:
        unpaid = (
            Order.objects.filter(shop=shop, buyer_id=unpaid_buyer, status=OrderStatus.PENDING_PAYMENT)
            .order_by()
            .values("shop")
            .annotate(n=Count("pk"))
            .values("n")
        )
        skus = skus.annotate(buyer_unpaid=Coalesce(Subquery(unpaid), 0))
    found = {}
    for sku in skus:
        shop_price = getattr(sku, "shop_price", None)
        sku.catalogue_price = sku.price if shop_price is None else shop_price
        found[sku.pk] = sku
    return found


def catalogue_prices(pairs: set[tuple[int | None, int]]) -> dict[tuple[int | None, int], Decimal]:
    """The OMS price of each ``(shop_id, sku_id)``: the shop's own price where staff set one,
    else the list price. Two queries for any number of pairs, none for no pairs."""
    if not pairs:
        return {}
    sku_ids = {sku_id for _shop, sku_id in pairs}
    shop_ids = {shop_id for shop_id, _sku in pairs if shop_id is not None}
    listed = dict(Sku.objects.filter(pk__in=sku_ids).values_list("pk", "price"))
    own = {
        (shop_id, sku_id): price
        for shop_id, sku_id, price in ShopPrice.objects.filter(shop_id__in=shop_ids, sku_id__in=sku_ids).values_list(
            "shop_id", "sku_id", "price"
        )
    }
    return {pair: own.get(pair, listed.get(pair[1])) for pair in pairs if pair in own or pair[1] in listed}


def order_check_discount(*, shop, lines: list[OrderLine], discount_amount: Decimal) -> None:
    """A storefront order's discounts (the order's and its lines' together) within what its
    shop may grant (``ShopDiscountPolicy``: a share of the goods and an amount; none without
    a policy). Beyond it: ``discount_not_allowed`` (422). Queries only when there is a discount."""
    total = discount_amount + sum((line.discount_amount for line in lines), ZERO)
    if total <= ZERO:
        return
    goods = sum((line.unit_price * line.quantity for line in lines), ZERO)
    policy = ShopDiscountPolicy.objects.filter(shop=shop).first()
    allowed = ZERO
    if policy is not None:
        allowed = min(policy.max_amount, (goods * policy.max_rate).quantize(Decimal("0.01"), rounding=ROUND_DOWN))
    if total > allowed:
        raise Unprocessable(
            OrderErrorCode.DISCOUNT_NOT_ALLOWED,
            _("A discount of %(discount)s is more than this shop may grant on this order (%(allowed)s).")
            % {"discount": f"{total:.2f}", "allowed": f"{allowed:.2f}"},
            {"discount_amount": f"{total:.2f}", "allowed": f"{allowed:.2f}"},
        )


def order_check_unpaid_limit(*, shop, buyer_id: str, counted: int | None = None) -> None:
    """At most ``ORDER_MAX_UNPAID_PER_BUYER`` unpaid orders (each holds stock) per buyer and
    shop; one more is ``too_many_unpaid_orders`` (409). Counted before the write (``counted``
    when ``order_skus`` did it already): two orders of one buyer at the same instant may both
    pass, which a limit against hoarding tolerates."""
    limit = settings.ORDER_MAX_UNPAID_PER_BUYER
    if not limit:
        return
    unpaid = counted
    if unpaid is None:
        unpaid = Order.objects.filter(shop=shop, buyer_id=buyer_id, status=OrderStatus.PENDING_PAYMENT).count()
    if unpaid >= limit:
        raise Conflict(
            OrderErrorCode.TOO_MANY_UNPAID_ORDERS,
            _("This buyer already has %(count)d unpaid orders; pay or cancel one first.") % {"count": unpaid},
            {"unpaid": unpaid, "limit": limit},
        )
