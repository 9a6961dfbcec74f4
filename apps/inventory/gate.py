"""The hot-SKU gate: a Redis counter in front of the database for flash sales.

For every hot SKU (``Sku.is_hot``) Redis holds a hash with its sellable count (the sum of
available over active online warehouses) and its code. ``gate_admit`` runs one Lua script
that checks every requested SKU and decrements all of them, or none: a request the gate
refuses never reaches the database. A SKU without a hash is not gated, so the script needs
no database read to know which SKUs are hot. A failed reservation and a release give the
count back (``gate_give_back``); other stock changes move it after commit
(``gate_shift``); ``gate_sync`` (beat) rewrites the counters from the database, correcting
drift such as an outer transaction that rolled back after the gate admitted it.
``gate_check`` is a read-only look at the same counters for callers that want to refuse a
sold-out hot SKU before their own first query.

The database stays the source of truth: its conditional UPDATE guards on its own, so a
counter that drifts high can only let a request reach the database, never oversell. The
gate is on only when the cache is django-redis and ``INVENTORY_HOT_SKU_GATE`` is true.
Counters expire after ``INVENTORY_GATE_TTL_SECONDS`` so a stopped beat switches it off,
and an unreachable Redis lets requests through to the database guard (logged).
"""

import logging
import time

from django.conf import settings
from redis.exceptions import RedisError

from apps.inventory.domain import InsufficientStock, Shortage
from apps.inventory.models import Sku
from apps.inventory.selectors import sellable_by_sku

logger = logging.getLogger(__name__)

_ADMIT = """
local admitted_ref = table.remove(KEYS)
if redis.call('EXISTS', admitted_ref) == 1 then
  return {2}
end
local short = {}
for i, key in ipairs(KEYS) do
  local available = redis.call('HGET', key, 'available')
  if available and tonumber(available) < tonumber(ARGV[i]) then
    table.insert(short, i)
    table.insert(short, tonumber(available))
    table.insert(short, redis.call('HGET', key, 'code') or '')
  end
end
if #short > 0 then
  table.insert(short, 1, 0)
  return short
end
local admitted = {1}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'available', -tonumber(ARGV[i]))
    table.insert(admitted, i)
  end
end
if #admitted > 1 then
  redis.call('SET', admitted_ref, 1, 'EX', tonumber(ARGV[#ARGV]))
end
return admitted
"""

_SHIFT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'available', tonumber(ARGV[i]))
  end
end
return 1
"""


def gate_enabled() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return bool(settings.INVENTORY_HOT_SKU_GATE and backend.startswith("django_redis."))


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


# Every gate key carries one hash tag, so on a Redis Cluster they share a slot and the Lua
# scripts (which touch several SKUs and the admitted mark at once) run on one node.
HASH_TAG = "{inventory-gate}"


# Per process: the SKU ids the gate counts (read from Redis at most every HOT_IDS_SECONDS), so
# an order of cold SKUs costs no Redis round trip. A SKU made hot elsewhere is gated here
# within that time; until then the database guard alone decides, which never oversells.
HOT_IDS_SECONDS = 2.0
_hot: tuple[float, dict[str, int]] = (0.0, {})


def _hot_codes() -> dict[str, int]:
    """Code -> id of the SKUs the gate counts (empty when the gate is off or Redis is down)."""
    global _hot
    if not gate_enabled():
        return {}
    now = time.monotonic()
    if now < _hot[0]:
        return _hot[1]
    try:
        codes = {_text(code): int(pk) for code, pk in _redis().hgetall(_codes_key()).items()}
    except RedisError:
        logger.warning("hot-SKU gate unavailable; reserving without it", exc_info=True)
        codes = {}
    _hot = (now + HOT_IDS_SECONDS, codes)
    return codes


def gate_hot_sku_ids() -> frozenset[int]:
    """The ids of the SKUs the gate counts (empty when the gate is off or Redis is down)."""
    return frozenset(_hot_codes().values())


def _forget_hot_ids() -> None:
    global _hot
    _hot = (0.0, {})


def _codes_key() -> str:
    return gate_key("codes")


def gate_key(sku_id: int | str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:{HASH_TAG}:sku:{sku_id}"


def _admitted_key(reference: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:{HASH_TAG}:admitted:{reference}"


def gate_admit(needs: dict[int, int], *, reference: str) -> dict[int, int]:
    """Take ``needs`` (quantity per SKU) off the gated counters for ``reference``, all or nothing.

    Returns what was taken (only hot SKUs), to give back if the reservation fails. Raises
    ``InsufficientStock`` when a hot SKU's counter is short, without touching the database.
    A reference admitted before (and not released or given back since) passes without
    taking anything: a repeated reservation must not be refused because its own first call
    took the last units. The mark lives as long as the counters.
    """
    if not needs or not gate_enabled():
        return {}
    sku_ids = list(needs)
    try:
        result = _redis().register_script(_ADMIT)(
            keys=[gate_key(sku_id) for sku_id in sku_ids] + [_admitted_key(reference)],
            args=[needs[sku_id] for sku_id in sku_ids] + [settings.INVENTORY_GATE_TTL_SECONDS],
        )
    except RedisError:
        # The gate only sheds load: without Redis the database guard decides alone.
        logger.warning("hot-SKU gate unavailable; reserving without it", exc_info=True)
        return {}
    if int(result[0]) == 2:
        return {}
    if int(result[0]) == 1:
        return {sku_ids[int(i) - 1]: needs[sku_ids[int(i) - 1]] for i in result[1:]}
    shortages = []
    for pos in range(1, len(result), 3):
        sku_id = sku_ids[int(result[pos]) - 1]
        shortages.append(
            Shortage(
                sku_id=sku_id,
                requested=needs[sku_id],
                available=max(int(result[pos + 1]), 0),
                sku_code=_text(result[pos + 2]),
            )
        )
    raise InsufficientStock(shortages)


def gate_check(needs: dict[int, int]) -> None:
    """Refuse ``needs`` (quantity per SKU) early when a hot SKU's counter is below its need.

    Read-only and Redis-only: no SQL and nothing taken, so callers run it before any query
    (``order_create`` does) and a sold-out hot SKU is refused without touching the database.
    The admission itself stays ``gate_admit`` in ``stock_reserve``. SKUs without a counter
    (cold SKUs) pass; the gate turned off or Redis unreachable lets everything through.
    Raises ``InsufficientStock`` naming every short hot SKU, codes taken from the counters.
    """
    hot = gate_hot_sku_ids()
    needs = {sku_id: n for sku_id, n in needs.items() if sku_id in hot}
    if not needs:
        return
    sku_ids = list(needs)
    try:
        pipe = _redis().pipeline(transaction=False)
        for sku_id in sku_ids:
            pipe.hmget(gate_key(sku_id), "available", "code")
        counters = pipe.execute()
    except RedisError:
        logger.warning("hot-SKU gate unavailable; checking without it", exc_info=True)
        return
    shortages = []
    for sku_id, (available, code) in zip(sku_ids, counters, strict=True):
        if available is not None and int(available) < needs[sku_id]:
            shortages.append(
                Shortage(
                    sku_id=sku_id,
                    requested=needs[sku_id],
                    available=max(int(available), 0),
                    sku_code=_text(code),
                )
            )
    if shortages:
        raise InsufficientStock(shortages)


def gate_check_codes(needs: dict[str, int]) -> None:
    """``gate_check`` for quantities per SKU *code* (a request body, before any SQL); codes
    the gate does not count pass without a Redis round trip."""
    codes = _hot_codes()
    by_id: dict[int, int] = {}
    for code, quantity in needs.items():
        if code in codes:
            by_id[codes[code]] = by_id.get(codes[code], 0) + quantity
    gate_check(by_id)


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def gate_shift(deltas: dict[int, int]) -> None:
    """Move gated counters by ``deltas`` (SKUs without a counter are left alone)."""
    deltas = {sku_id: delta for sku_id, delta in deltas.items() if delta}
    if not deltas or not gate_enabled():
        return
    sku_ids = list(deltas)
    try:
        _redis().register_script(_SHIFT)(
            keys=[gate_key(sku_id) for sku_id in sku_ids], args=[deltas[sku_id] for sku_id in sku_ids]
        )
    except RedisError:
        logger.warning("hot-SKU gate counters not moved; the next sync corrects them", exc_info=True)


def gate_give_back(admitted: dict[int, int], *, reference: str) -> None:
    """Return what ``gate_admit`` took for ``reference`` and forget that it was admitted."""
    if admitted:
        gate_forget(reference)
    gate_shift(admitted)


def gate_forget(reference: str) -> None:
    """Drop the admitted mark of ``reference`` (its reservation was released)."""
    if not gate_enabled():
        return
    try:
        _redis().delete(_admitted_key(reference))
    except RedisError:
        logger.warning("hot-SKU gate mark of %s not dropped; it expires with the counters", reference, exc_info=True)


def gate_sync(*, sku_ids: list[int] | None = None) -> int:
    """Rewrite the counters of hot SKUs from the database; drop counters of SKUs no longer hot.

    Returns how many counters were written. ``sku_ids`` limits the work to some SKUs (the
    admin calls it when a SKU's hot flag changes); without it every hot SKU is synced.
    """
    if not gate_enabled():
        return 0
    skus = Sku.objects.filter(is_hot=True, is_active=True) if sku_ids is None else Sku.objects.filter(pk__in=sku_ids)
    rows = list(skus.values_list("pk", "code", "is_hot", "is_active"))
    hot = {pk: code for pk, code, is_hot, is_active in rows if is_hot and is_active}
    sellable = sellable_by_sku(list(hot))
    connection = _redis()
    members = gate_key("all")
    if sku_ids is None:
        stale = {int(m) for m in connection.smembers(members)} - set(hot)
    else:
        stale = {pk for pk, _code, is_hot, is_active in rows if not (is_hot and is_active)}
    ttl = settings.INVENTORY_GATE_TTL_SECONDS
    pipe = connection.pipeline(transaction=True)
    codes = _codes_key()
    for pk in stale:
        pipe.delete(gate_key(pk))
        pipe.srem(members, pk)
    if stale:
        stale_codes = [code for code, pk in (connection.hgetall(codes) or {}).items() if int(pk) in stale]
        if stale_codes:
            pipe.hdel(codes, *stale_codes)
    for pk, code in hot.items():
        key = gate_key(pk)
        pipe.hset(key, mapping={"available": sellable.get(pk, 0), "code": code})
        pipe.expire(key, ttl)
        pipe.sadd(members, pk)
        pipe.hset(codes, code, pk)
    if hot:
        pipe.expire(codes, ttl)
    pipe.execute()
    _forget_hot_ids()
    return len(hot)


def gate_counter(sku_id: int) -> int | None:
    """The gated count of a SKU, or None when it is not gated (admin and tests)."""
    if not gate_enabled():
        return None
    value = _redis().hget(gate_key(sku_id), "available")
    return None if value is None else int(value)
