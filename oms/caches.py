"""The cache configuration for one Redis, Redis Sentinel or Redis Cluster (settings and tests
build it here, so a test runs the topology exactly as settings would)."""

DJANGO_REDIS = "django_redis.cache.RedisCache"


def host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host, int(port)


def redis_caches(
    *,
    url: str = "",
    sentinels: list[str] | None = None,
    sentinel_service: str = "oms",
    sentinel_db: int = 0,
    cluster_nodes: list[str] | None = None,
    password: str = "",
    key_prefix: str = "oms",
    connect_timeout: float = 1.0,
    timeout: float = 2.0,
) -> dict:
    """Cluster nodes win over sentinels, sentinels over a plain URL; nothing: local memory."""
    # A Redis that hangs fails fast instead of holding the request.
    options: dict = {"SOCKET_CONNECT_TIMEOUT": connect_timeout, "SOCKET_TIMEOUT": timeout}
    if password:
        options["PASSWORD"] = password
    if cluster_nodes:
        location = f"redis://{cluster_nodes[0]}/0"  # a cluster has database 0 only
        options |= {
            "CLIENT_CLASS": "apps.core.redis_cluster.ClusterClient",
            "CONNECTION_FACTORY": "apps.core.redis_cluster.ClusterConnectionFactory",
            "CLUSTER_NODES": [host_port(node) for node in cluster_nodes],
        }
    elif sentinels:
        # Every command goes to the primary the sentinels name (no reads from replicas: a
        # nonce or a gate counter must never be read stale); a failover is followed on the
        # next connection.
        location = f"redis://{sentinel_service}/{sentinel_db}"
        options |= {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": [host_port(node) for node in sentinels],
        }
    elif url:
        location = url
        options |= {"CLIENT_CLASS": "django_redis.client.DefaultClient"}
    else:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {"default": {"BACKEND": DJANGO_REDIS, "LOCATION": location, "KEY_PREFIX": key_prefix, "OPTIONS": options}}
