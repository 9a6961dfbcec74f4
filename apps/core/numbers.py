"""Order numbers: 20 digits, time-ordered, unique across processes without a database hot spot.

    YYYYMMDD  SSSSS   NNN   QQQQ
    date      second  node  sequence within the second
              of day

``node`` comes from ``OMS_NODE_ID`` (0-999, one per process) when set. Otherwise each process
claims one on first use: from a counter in the shared cache when the cache is Redis (distinct
for up to 1,000 live processes across machines), or from its PID on the embedded default
(one machine, local-memory cache). The unique constraint on the number column stays the
last guard: a caller that hits it retries with a fresh number.

Within a process a lock hands out at most 10,000 numbers per second; a clock that steps
backwards keeps counting from the last second used, so a number is never handed out twice.
"""

import os
import random
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache

SEQUENCE_LIMIT = 10_000
NODE_LIMIT = 1000
NODE_COUNTER_KEY = "core:number-node"
SHARED_CACHE_BACKENDS = ("django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache")

_lock = threading.Lock()
_state = {"second": -1, "sequence": 0, "node": -1, "pid": -1}


def _claim_node() -> int:
    configured = settings.OMS_NODE_ID
    if configured >= 0:
        return configured % NODE_LIMIT
    if settings.CACHES["default"]["BACKEND"] not in SHARED_CACHE_BACKENDS:
        return os.getpid() % NODE_LIMIT
    cache.add(NODE_COUNTER_KEY, random.randrange(NODE_LIMIT), timeout=None)
    return cache.incr(NODE_COUNTER_KEY) % NODE_LIMIT


def _node_id() -> int:
    # A forked worker (Celery prefork) must not reuse its parent's node: re-claim per PID.
    if _state["pid"] != os.getpid():
        _state["node"] = _claim_node()
        _state["pid"] = os.getpid()
        _state["second"] = -1
    return _state["node"]


def next_number() -> str:
    """The next 20-digit number of this process."""
    with _lock:
        node = _node_id()
        while True:
            real = int(time.time())
            if real > _state["second"]:
                _state["second"] = real
                _state["sequence"] = random.randrange(100)
                break
            if _state["sequence"] + 1 < SEQUENCE_LIMIT:
                _state["sequence"] += 1
                break
            if real < _state["second"]:
                # The clock stepped back and the second in use is spent: borrow the next one.
                _state["second"] += 1
                _state["sequence"] = 0
                break
            time.sleep(0.001)
        current = _state["second"]
        moment = datetime.fromtimestamp(current, tz=ZoneInfo(settings.TIME_ZONE))
        second_of_day = moment.hour * 3600 + moment.minute * 60 + moment.second
        return f"{moment:%Y%m%d}{second_of_day:05d}{node:03d}{_state['sequence']:04d}"
