"""The shipped client (clients/oms_client.py) reads fields by the schema's names: a field
renamed or dropped in the schema fails here, before any integrator's client breaks."""

import typing

import pytest
from drf_spectacular.generators import SchemaGenerator

from clients import oms_client

COMPONENTS = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
TYPED = [
    (oms_client.Recipient, "RecipientOutput"),
    (oms_client.OrderListItem, "OrderListItemOutput"),
    (oms_client.OrderLine, "OrderLineOutput"),
    (oms_client.Order, "OrderDetailOutput"),
    (oms_client.SearchLine, "OrderSearchLineOutput"),
    (oms_client.SearchItem, "OrderSearchItemOutput"),
    (oms_client.StockTotal, "StockTotalOutput"),
    (oms_client.SkuStock, "SkuStockOutput"),
    (oms_client.Page, "PaginatedOrderListItemOutputList"),
    (oms_client.Page, "OrderSearchOutput"),
]


@pytest.mark.parametrize(("typed", "component"), TYPED, ids=[component for _, component in TYPED])
def test_every_field_the_client_reads_is_in_the_schema(typed, component):
    properties = COMPONENTS[component]["properties"]
    missing = set(typing.get_type_hints(typed)) - set(properties)
    assert not missing, f"{component} has no {sorted(missing)}"
