"""OMS settings, driven by environment variables.

With nothing set the project runs on its embedded default: SQLite (WAL), the Celery
filesystem transport, a local-memory cache and the database search backend. Production
sets DEBUG=false, DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, ELASTICSEARCH_URL and
SECRET_KEY; with DEBUG off the development secret key and the demo credentials are refused.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from oms.caches import redis_caches

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("OMS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# tidb://user:password@host:4000/oms selects the django-tidb backend.
environ.Env.DB_SCHEMES["tidb"] = "django_tidb"

INSECURE_DEFAULT_SECRET_KEY = "insecure-dev-key-change-me"  # noqa: S105 - refused when DEBUG=False
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG and SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is False.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "apps.core",
    "apps.shops",
    "apps.inventory",
    "apps.payments",
    "apps.orders",
    "apps.channels",
    "apps.aftersales",
]

MIDDLEWARE = [
    "apps.core.api.limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.replicas.ReplicaPinMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.ratelimit.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "oms.urls"
WSGI_APPLICATION = "oms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite (embedded default): WAL journal, a busy timeout and IMMEDIATE transactions so a
# writer takes the lock at BEGIN instead of failing half-way with "database is locked".
# MySQL/MariaDB: utf8mb4, READ COMMITTED and connect/read/write timeouts. Stock and status
# changes are conditional UPDATEs or row locks, so they never rely on REPEATABLE READ
# snapshots; READ COMMITTED also avoids the gap locks that make REPEATABLE READ
# deadlock-prone under concurrent inserts.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'oms.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A fresh checkout has no var/ yet: SQLite can create the file but not its folder.
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _db["ENGINE"] in ("django.db.backends.mysql",):
    _db.setdefault("OPTIONS", {})
    # A server that stops answering fails the request after these timeouts (a 503), not after
    # gunicorn's worker timeout. The client library may retry a timed-out read (libmysqlclient
    # does, up to three times), so keep DB_READ_TIMEOUT_SECONDS well below GUNICORN_TIMEOUT / 3.
    _db["OPTIONS"].update(
        {
            "charset": "utf8mb4",
            "isolation_level": "read committed",
            "connect_timeout": env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5),
            "read_timeout": env.int("DB_READ_TIMEOUT_SECONDS", default=15),
            "write_timeout": env.int("DB_WRITE_TIMEOUT_SECONDS", default=15),
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
_db["ATOMIC_REQUESTS"] = False
# Production keeps each worker's connection open (a connect costs more than a whole cached
# read); the health check at the start of a request replaces one the server has dropped.
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0 if DEBUG else 600)
_db["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
if _db["ENGINE"] == "django_tidb":
    # TiDB: pessimistic transactions, so SELECT ... FOR UPDATE locks at read time as on MySQL
    # (optimistic mode would only fail at COMMIT with write conflict 9007); READ COMMITTED
    # needs them. AUTO_ID_CACHE 1 keeps new ids increasing across TiDB servers (docs/TIDB.md).
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "isolation_level": "read committed",
        "init_command": "SET SESSION tidb_txn_mode = 'pessimistic'",
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

# Read replicas (MySQL/MariaDB): only reads that opt in with apps.core.replicas.replica_reads()
# go there, and only while the replica keeps up (docs/SCALING.md).
DATABASE_REPLICAS = []
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _replica = env.db_url_config(_url)
    _replica["OPTIONS"] = {
        **_db.get("OPTIONS", {}),
        "connect_timeout": env.int("DB_REPLICA_CONNECT_TIMEOUT", default=2),
    }
    _replica.update(ATOMIC_REQUESTS=False, CONN_MAX_AGE=_db["CONN_MAX_AGE"], TEST={"MIRROR": "default"})
    DATABASES[f"replica_{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_number}")
DATABASE_ROUTERS = ["apps.core.replicas.PrimaryReplicaRouter"]
DB_REPLICA_MAX_LAG_SECONDS = env.int("DB_REPLICA_MAX_LAG_SECONDS", default=10)
DB_REPLICA_CHECK_SECONDS = env.float("DB_REPLICA_CHECK_SECONDS", default=5.0)
DB_REPLICA_PIN_SECONDS = env.int("DB_REPLICA_PIN_SECONDS", default=15)
# Engines without SELECT ... SKIP LOCKED (TiDB) or where it is unwanted: work queues lock
# with a plain FOR UPDATE instead (workers then wait for each other's batch instead of
# taking the next one). Also off by itself when the backend lacks the feature.
DB_SKIP_LOCKED = env.bool("DB_SKIP_LOCKED", default=True)
# Error codes a whole transaction is retried on, besides the MySQL deadlock/lock-wait ones:
# TiDB write conflicts (9007 optimistic, 8002 SELECT FOR UPDATE, 8022 commit retry failed,
# 8028 schema changed). Harmless on MySQL/MariaDB, which never raise them.
DB_RETRY_ERROR_CODES = env.list("DB_RETRY_ERROR_CODES", cast=int, default=[1213, 1205, 9007, 8002, 8022, 8028])

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
# The cache also holds signed-request nonces, rate limits and the hot-SKU gate. One Redis
# (REDIS_URL), or past one box: Redis Sentinel (REDIS_SENTINELS, high availability) or
# Redis Cluster (REDIS_CLUSTER_NODES, sharded); see docs/SCALING.md.
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])  # host:port of each sentinel
REDIS_SENTINEL_SERVICE = env.str("REDIS_SENTINEL_SERVICE", default="oms")
REDIS_SENTINEL_DB = env.int("REDIS_SENTINEL_DB", default=0)
REDIS_CLUSTER_NODES = env.list("REDIS_CLUSTER_NODES", default=[])  # host:port of a few seed nodes
REDIS_PASSWORD = env.str("REDIS_PASSWORD", default="")  # Sentinel and Cluster data nodes
CACHES = redis_caches(
    url=REDIS_URL,
    sentinels=REDIS_SENTINELS,
    sentinel_service=REDIS_SENTINEL_SERVICE,
    sentinel_db=REDIS_SENTINEL_DB,
    cluster_nodes=REDIS_CLUSTER_NODES,
    password=REDIS_PASSWORD,
    key_prefix=env.str("CACHE_KEY_PREFIX", default="oms"),
    connect_timeout=env.float("CACHE_CONNECT_TIMEOUT_SECONDS", default=1.0),
    timeout=env.float("CACHE_TIMEOUT_SECONDS", default=2.0),
)
# API rate limits (apps.core.ratelimit): token buckets in the "ratelimit" cache, the same
# Redis as the cache unless RATE_LIMIT_REDIS_URL names one of their own. Without Redis there
# is no limit.
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default="")
if RATE_LIMIT_REDIS_URL:
    CACHES["ratelimit"] = redis_caches(
        url=RATE_LIMIT_REDIS_URL,
        key_prefix=env.str("CACHE_KEY_PREFIX", default="oms"),
        connect_timeout=env.float("CACHE_CONNECT_TIMEOUT_SECONDS", default=1.0),
        timeout=env.float("CACHE_TIMEOUT_SECONDS", default=2.0),
    )["default"]
elif CACHES["default"]["BACKEND"] != "django.core.cache.backends.locmem.LocMemCache":
    CACHES["ratelimit"] = dict(CACHES["default"])

# --- Celery ---------------------------------------------------------------------------
# The filesystem transport needs no server: the embedded default. Folders live under VAR_DIR.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
# A countdown longer than the visibility timeout would be redelivered early, so the
# timeout stays well above the longest countdown we schedule (the payment deadline).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=6 * 3600)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# RabbitMQ only: declare the task queues as quorum queues (replicated; needs RabbitMQ 3.8+).
CELERY_QUORUM_QUEUES = env.bool("CELERY_QUORUM_QUEUES", default=True)

# --- Search ---------------------------------------------------------------------------
# One node URL or several, comma-separated (a cluster); an API key and the CA certificate
# of a cluster with security on (https URLs).
ELASTICSEARCH_URL = env.str("ELASTICSEARCH_URL", default="")
ELASTICSEARCH_API_KEY = env.str("ELASTICSEARCH_API_KEY", default="")  # "id:key" or its base64 form
ELASTICSEARCH_CA_CERTS = env.str("ELASTICSEARCH_CA_CERTS", default="")  # path to a PEM file
SEARCH_BACKEND = env.str("SEARCH_BACKEND", default="elasticsearch" if ELASTICSEARCH_URL else "database")
ELASTICSEARCH_INDEX_PREFIX = env.str("ELASTICSEARCH_INDEX_PREFIX", default="oms")

# --- Auth, i18n, static ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security (production) ------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.shops.authentication.ShopSignatureAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.shops.throttling.ShopRateThrottle"],
    # JSON only: one body format for every client (others get 415 unsupported_media_type).
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OMS API",
    "DESCRIPTION": "Order management for omni-channel e-commerce.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components: they say which fields are required and
    # non-blank, and leave out what only the answer carries.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "apps.orders.models.OrderStatus",
        "AfterSaleStatusEnum": "apps.aftersales.models.AfterSaleStatus",
    },
    # Swagger UI served from our own static files (drf-spectacular-sidecar): works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

# Signed API requests: allowed clock skew and how long a nonce is remembered.
API_SIGNATURE_MAX_SKEW_SECONDS = env.int("API_SIGNATURE_MAX_SKEW_SECONDS", default=300)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# Rate limits of signed (shop app) requests per kind of endpoint: a token bucket of `burst`
# tokens refilled at `per_minute`. Staff may set other limits per shop in the admin.
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMITS = {
    "create": {
        "per_minute": env.int("RATE_LIMIT_CREATE_PER_MINUTE", default=300),
        "burst": env.int("RATE_LIMIT_CREATE_BURST", default=30),
    },
    "read": {
        "per_minute": env.int("RATE_LIMIT_READ_PER_MINUTE", default=1200),
        "burst": env.int("RATE_LIMIT_READ_BURST", default=120),
    },
    "push": {
        "per_minute": env.int("RATE_LIMIT_PUSH_PER_MINUTE", default=600),
        "burst": env.int("RATE_LIMIT_PUSH_BURST", default=60),
    },
}
# The Retry-After of a 503 answered while the cache or the database is down.
API_RETRY_AFTER_SECONDS = env.int("API_RETRY_AFTER_SECONDS", default=5)
# Longer request targets (path + query) get 414, longer headers 431 (JSON); gunicorn's own
# limits (docker/gunicorn.conf.py) sit above these.
API_MAX_REQUEST_TARGET = env.int("API_MAX_REQUEST_TARGET", default=4096)
API_MAX_HEADER_BYTES = env.int("API_MAX_HEADER_BYTES", default=8190)

# --- Business settings ----------------------------------------------------------------
OMS_NODE_ID = env.int("OMS_NODE_ID", default=-1)  # -1: derived per process
PAYMENT_DEADLINE_MINUTES = env.int("PAYMENT_DEADLINE_MINUTES", default=15)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=200)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")

# Inventory: the hot-SKU Redis gate (on only with django-redis), its counter lifetime and
# re-sync interval, deadlock retries of stock services, and the low-stock scan interval.
INVENTORY_HOT_SKU_GATE = env.bool("INVENTORY_HOT_SKU_GATE", default=True)
INVENTORY_GATE_TTL_SECONDS = env.int("INVENTORY_GATE_TTL_SECONDS", default=600)
INVENTORY_GATE_SYNC_SECONDS = env.int("INVENTORY_GATE_SYNC_SECONDS", default=30)
DB_DEADLOCK_RETRIES = env.int("DB_DEADLOCK_RETRIES", default=5)
INVENTORY_LOW_STOCK_SCAN_SECONDS = env.int("INVENTORY_LOW_STOCK_SCAN_SECONDS", default=300)
INVENTORY_CLAIM_RETENTION_DAYS = env.int("INVENTORY_CLAIM_RETENTION_DAYS", default=7)

# Retention (daily beat jobs of each app, batched deletes; 0 keeps rows for ever): delivered
# outbox events, events with a failed delivery, converted/ignored raw platform orders, pull
# runs, stock pushes, raw payment callbacks. Idempotency keys go after IDEMPOTENCY_KEY_TTL_HOURS.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=5000)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)
OUTBOX_FAILED_RETENTION_DAYS = env.int("OUTBOX_FAILED_RETENTION_DAYS", default=90)
RAW_ORDER_RETENTION_DAYS = env.int("RAW_ORDER_RETENTION_DAYS", default=90)
PULL_RUN_RETENTION_DAYS = env.int("PULL_RUN_RETENTION_DAYS", default=30)
STOCK_PUSH_RETENTION_DAYS = env.int("STOCK_PUSH_RETENTION_DAYS", default=30)
PAYMENT_NOTIFICATION_RETENTION_DAYS = env.int("PAYMENT_NOTIFICATION_RETENTION_DAYS", default=365)

# Payments: provider credentials and gateways. The defaults (DEBUG only) point at the keys
# `manage.py payments_sandbox_keys` writes to var/payments/ and at the sandbox gateway
# (`python -m apps.payments.sandbox --port 8001`); production sets every one of them.
_PAY_KEYS = VAR_DIR / "payments"
_pay_default = (lambda value: value) if DEBUG else (lambda value: "")
PAYMENT_NOTIFY_BASE_URL = env.str("PAYMENT_NOTIFY_BASE_URL", default=_pay_default("http://127.0.0.1:8000"))
PAYMENT_HTTP_TIMEOUT_SECONDS = env.float("PAYMENT_HTTP_TIMEOUT_SECONDS", default=10.0)
PAYMENT_QUERY_AFTER_MINUTES = env.int("PAYMENT_QUERY_AFTER_MINUTES", default=2)
REFUND_MAX_ATTEMPTS = env.int("REFUND_MAX_ATTEMPTS", default=8)
WECHATPAY_GATEWAY_URL = env.str("WECHATPAY_GATEWAY_URL", default=_pay_default("http://127.0.0.1:8001"))
WECHATPAY_MCHID = env.str("WECHATPAY_MCHID", default=_pay_default("1900000001"))
WECHATPAY_APPID = env.str("WECHATPAY_APPID", default=_pay_default("wxsandbox000001"))
WECHATPAY_SERIAL_NO = env.str("WECHATPAY_SERIAL_NO", default=_pay_default("SANDBOXMERCHANTSERIAL01"))
WECHATPAY_PRIVATE_KEY_PATH = env.str(
    "WECHATPAY_PRIVATE_KEY_PATH", default=_pay_default(str(_PAY_KEYS / "wechat_merchant_private.pem"))
)
# Platform keys: a folder of <serial>.pem certificates/public keys, and/or one WeChat Pay
# public key with its id (PUB_KEY_ID_...), chosen by the Wechatpay-Serial header.
WECHATPAY_PLATFORM_CERTS_DIR = env.str(
    "WECHATPAY_PLATFORM_CERTS_DIR", default=_pay_default(str(_PAY_KEYS / "wechat_platform_certs"))
)
WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = env.str("WECHATPAY_PLATFORM_PUBLIC_KEY_PATH", default="")
WECHATPAY_PLATFORM_PUBLIC_KEY_ID = env.str("WECHATPAY_PLATFORM_PUBLIC_KEY_ID", default="")
WECHATPAY_APIV3_KEY = env.str("WECHATPAY_APIV3_KEY", default=_pay_default("sandboxapiv3key00000000000000000"))
ALIPAY_GATEWAY_URL = env.str("ALIPAY_GATEWAY_URL", default=_pay_default("http://127.0.0.1:8001/alipay/gateway.do"))
ALIPAY_APP_ID = env.str("ALIPAY_APP_ID", default=_pay_default("2021000000000001"))
ALIPAY_SELLER_ID = env.str("ALIPAY_SELLER_ID", default=_pay_default("2088000000000001"))
ALIPAY_PRIVATE_KEY_PATH = env.str(
    "ALIPAY_PRIVATE_KEY_PATH", default=_pay_default(str(_PAY_KEYS / "alipay_app_private.pem"))
)
ALIPAY_PUBLIC_KEY_PATH = env.str("ALIPAY_PUBLIC_KEY_PATH", default=_pay_default(str(_PAY_KEYS / "alipay_public.pem")))
# `make demo` logs in as "admin" with this password; empty: generated once into VAR_DIR.
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="")

# Channels: platform pulls, conversion of raw orders, stock sync and shipment write-back.
CHANNEL_HTTP_TIMEOUT_SECONDS = env.float("CHANNEL_HTTP_TIMEOUT_SECONDS", default=10.0)
CHANNEL_HTTP_RETRIES = env.int("CHANNEL_HTTP_RETRIES", default=2)  # in-call retries of transient errors
CHANNEL_HTTP_RETRY_DELAY_SECONDS = env.float("CHANNEL_HTTP_RETRY_DELAY_SECONDS", default=0.5)
CHANNEL_PULL_OVERLAP_MINUTES = env.int("CHANNEL_PULL_OVERLAP_MINUTES", default=5)
CHANNEL_PULL_FIRST_WINDOW_HOURS = env.int("CHANNEL_PULL_FIRST_WINDOW_HOURS", default=24)
CHANNEL_PULL_LOCK_SECONDS = env.int("CHANNEL_PULL_LOCK_SECONDS", default=900)
CHANNEL_PULL_ALERT_AFTER = env.int("CHANNEL_PULL_ALERT_AFTER", default=3)
CHANNEL_CONVERT_BATCH = env.int("CHANNEL_CONVERT_BATCH", default=50)
CHANNEL_CONVERT_MAX_ATTEMPTS = env.int("CHANNEL_CONVERT_MAX_ATTEMPTS", default=5)
CHANNEL_PUSH_MAX_BATCH = env.int("CHANNEL_PUSH_MAX_BATCH", default=100)
CHANNEL_STOCK_SYNC_DEBOUNCE_SECONDS = env.int("CHANNEL_STOCK_SYNC_DEBOUNCE_SECONDS", default=5)
CHANNEL_WRITEBACK_ALERT_AFTER = env.int("CHANNEL_WRITEBACK_ALERT_AFTER", default=3)
CHANNEL_WRITEBACK_MAX_ATTEMPTS = env.int("CHANNEL_WRITEBACK_MAX_ATTEMPTS", default=10)
CHANNEL_SIMULATOR_URL = env.str("CHANNEL_SIMULATOR_URL", default="http://127.0.0.1:8003")

# Order search (Elasticsearch backend): client timeout and retries, index layout, bulk size.
ELASTICSEARCH_TIMEOUT_SECONDS = env.float("ELASTICSEARCH_TIMEOUT_SECONDS", default=5.0)
ELASTICSEARCH_MAX_RETRIES = env.int("ELASTICSEARCH_MAX_RETRIES", default=2)
ELASTICSEARCH_SHARDS = env.int("ELASTICSEARCH_SHARDS", default=1)
ELASTICSEARCH_REPLICAS = env.int("ELASTICSEARCH_REPLICAS", default=1)
SEARCH_INDEX_CHUNK_SIZE = env.int("SEARCH_INDEX_CHUNK_SIZE", default=500)
# Reports: how many SKUs the top-SKU tables keep.
REPORT_TOP_SKUS = env.int("REPORT_TOP_SKUS", default=10)

# After-sales: work-order SLA per priority (hours until due), JSON; a missing priority uses
# the defaults.
WORKORDER_SLA_HOURS = {
    "urgent": 2,
    "high": 8,
    "normal": 24,
    "low": 72,
    **env.json("WORKORDER_SLA_HOURS", default={}),
}

# Orders: shipping fee when the caller gives none (free from the threshold on), detail cache
# lifetimes, and how many overdue unpaid orders one expiry sweep batch handles.
ORDER_FREE_SHIPPING_THRESHOLD = env.str("ORDER_FREE_SHIPPING_THRESHOLD", default="99.00")  # Decimal string
ORDER_SHIPPING_FEE = env.str("ORDER_SHIPPING_FEE", default="10.00")  # Decimal string
# How long a process keeps a shop's warehouse list before reading it again (0: every order).
SHOP_WAREHOUSES_CACHE_SECONDS = env.int("SHOP_WAREHOUSES_CACHE_SECONDS", default=30)
# Unpaid orders (each holds stock) a buyer may have per shop; 0 turns the limit off.
ORDER_MAX_UNPAID_PER_BUYER = env.int("ORDER_MAX_UNPAID_PER_BUYER", default=5)
# A platform order paid below the OMS price by more than this share is held (price_anomaly).
AUDIT_PRICE_ANOMALY_SHARE = env.str("AUDIT_PRICE_ANOMALY_SHARE", default="0.30")  # Decimal string
ORDER_DETAIL_CACHE_SECONDS = env.int("ORDER_DETAIL_CACHE_SECONDS", default=300)
ORDER_MISSING_CACHE_SECONDS = env.int("ORDER_MISSING_CACHE_SECONDS", default=30)
ORDER_EXPIRE_BATCH = env.int("ORDER_EXPIRE_BATCH", default=200)
# Orders: finished orders idle this many (30-day) months move to the archive tables (daily
# beat job, in batches); 0 keeps every order in the hot tables.
ORDER_ARCHIVE_AFTER_MONTHS = env.int("ORDER_ARCHIVE_AFTER_MONTHS", default=0)
ORDER_ARCHIVE_BATCH_SIZE = env.int("ORDER_ARCHIVE_BATCH_SIZE", default=1000)

# Orders: audit (审单) rules applied when an order is paid; a failing rule puts it on hold.
AUDIT_HOLD_ON_BUYER_MESSAGE = env.bool("AUDIT_HOLD_ON_BUYER_MESSAGE", default=True)
AUDIT_MAX_PAYABLE = env.str("AUDIT_MAX_PAYABLE", default="5000.00")  # Decimal string; above it: hold
AUDIT_DUPLICATE_WINDOW_MINUTES = env.int("AUDIT_DUPLICATE_WINDOW_MINUTES", default=30)
AUDIT_MIN_ADDRESS_LENGTH = env.int("AUDIT_MIN_ADDRESS_LENGTH", default=5)
AUDIT_SUSPICIOUS_ADDRESS_KEYWORDS = env.list("AUDIT_SUSPICIOUS_ADDRESS_KEYWORDS", default=["测试", "test", "自提"])
# Orders: merging (合单) of fulfillments not yet sent to the WMS, and how long a new
# fulfillment waits before it is sent so that a merge can still catch it.
MERGE_ENABLED = env.bool("MERGE_ENABLED", default=True)
MERGE_WINDOW_MINUTES = env.int("MERGE_WINDOW_MINUTES", default=30)
MERGE_HOLD_MINUTES = env.int("MERGE_HOLD_MINUTES", default=5)
ORDER_AUTO_COMPLETE_DAYS = env.int("ORDER_AUTO_COMPLETE_DAYS", default=7)
ORDER_AUTO_COMPLETE_BATCH_SIZE = env.int("ORDER_AUTO_COMPLETE_BATCH_SIZE", default=500)
# Orders: the warehouse management system. Empty WMS_BASE_URL = no WMS (staff ship from the
# admin). The key/secret sign our calls to the WMS and authenticate its callbacks to us.
WMS_BASE_URL = env.str("WMS_BASE_URL", default="")
WMS_APP_KEY = env.str("WMS_APP_KEY", default="wms-demo" if DEBUG else "")
WMS_APP_SECRET = env.str("WMS_APP_SECRET", default="wms-demo-secret" if DEBUG else "")
WMS_TIMEOUT_SECONDS = env.float("WMS_TIMEOUT_SECONDS", default=5.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
