"""Redis Cluster for the cache (nonces, rate limits, cached reads) and the hot-SKU gate.

django-redis has no cluster client: this factory hands it a ``redis.cluster.RedisCluster``
built from the seed nodes of ``REDIS_CLUSTER_NODES`` (the client discovers the rest and
follows failovers and resharding), and ``ClusterClient`` reads several keys with one
MGET per hash slot, since one MGET may not span slots. Everything else django-redis does
(single-key commands, pipelines of single-key commands, DEL of many keys) works on a
cluster as it is. Keys a Lua script touches together carry one hash tag (the gate's).
"""

from collections import OrderedDict

from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from django_redis.pool import ConnectionFactory
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError


class ClusterConnectionFactory(ConnectionFactory):
    def __init__(self, options):
        super().__init__(options)
        self.nodes = [ClusterNode(host, int(port)) for host, port in options["CLUSTER_NODES"]]

    def connect(self, url: str) -> RedisCluster:
        params = self.make_connection_params(url)
        kwargs = {k: v for k, v in params.items() if k in ("socket_timeout", "socket_connect_timeout")}
        return RedisCluster(startup_nodes=self.nodes, **kwargs)

    def disconnect(self, connection: RedisCluster) -> None:
        connection.close()


class ClusterClient(DefaultClient):
    def get_many(self, keys, version=None, client=None) -> OrderedDict:
        client = client or self.get_client(write=False)
        names = OrderedDict((self.make_key(key, version=version), key) for key in keys)
        if not names:
            return OrderedDict()
        try:
            values = client.mget_nonatomic(list(names))
        except RedisError as exc:
            raise ConnectionInterrupted(connection=client) from exc
        return OrderedDict(
            (names[name], self.decode(value)) for name, value in zip(names, values, strict=True) if value is not None
        )
