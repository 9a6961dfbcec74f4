"""Test settings: MariaDB and Redis on loopback, for real (override with DATABASE_URL / REDIS_URL).

The broker is Celery's in-memory transport so a test never leaves messages in a shared
broker; tests run tasks and the outbox relay by calling them.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/oms")

# pytest-xdist workers share one Redis server: each takes its own database (base + worker
# number), because a test's cache.clear() flushes the whole database it uses.
_redis_base, _, _redis_db = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rpartition("/")
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
os.environ["REDIS_URL"] = f"{_redis_base}/{(int(_redis_db or 0) + _worker) % 16}"  # Redis has 16 by default
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# Files the code writes (sandbox keys and state, demo secrets) go to a scratch folder, never
# into the var/ of a demo that may be running from the same checkout.
os.environ.setdefault("OMS_VAR_DIR", tempfile.mkdtemp(prefix="oms-tests-"))
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("DEBUG", "true")

from oms.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"
