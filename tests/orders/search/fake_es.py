"""A tiny Elasticsearch 8 stand-in served over loopback, so the real client, transport,
retries and product check run against HTTP exactly as in production.

It records every request (method, path, query, body) and answers the endpoints the OMS
uses the way ES 8 does. Tests script it: ``bulk_statuses`` gives per-document bulk
outcomes (e.g. 409 for a stale version), ``drop_next`` makes the next N requests die
without an answer (a connection error the client retries), ``search_hits`` what _search
returns.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ES_HEADERS = {
    "X-Elastic-Product": "Elasticsearch",
    "Content-Type": "application/vnd.elasticsearch+json;compatible-with=8",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: object
    headers: dict = field(default_factory=dict)  # names in lower case

    @property
    def ndjson(self) -> list[dict]:
        return self.body if isinstance(self.body, list) else []


@dataclass
class FakeElasticsearch:
    requests: list[Recorded] = field(default_factory=list)
    aliases: dict[str, list[str]] = field(default_factory=dict)  # every index -> its aliases
    bulk_statuses: dict[str, int] = field(default_factory=dict)  # document id -> HTTP status
    search_hits: list[dict] = field(default_factory=list)
    search_total: int = 0
    search_failed_shards: int = 0  # a red cluster: shards that did not answer a search
    health: str = "green"  # what _cluster/health answers
    count: int = 0
    documents: dict[str, dict] = field(default_factory=dict)  # id -> _source, for _mget
    drop_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    def answer(self, method: str, path: str, body) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if method in ("GET", "HEAD") and not parts:
            return 200, {
                "name": "fake",
                "cluster_name": "fake",
                "version": {"number": "8.15.0", "build_flavor": "default"},
                "tagline": "You Know, for Search",
            }
        if parts and parts[-1] == "_bulk":
            return 200, self._bulk(body)
        if parts[:2] == ["_cluster", "health"]:
            return 200, {"cluster_name": "fake", "status": self.health, "timed_out": False}
        if parts == ["_aliases"]:
            for action in body["actions"]:
                ((kind, spec),) = action.items()
                if kind == "add":
                    self.aliases.setdefault(spec["index"], []).append(spec["alias"])
                elif kind == "remove":
                    self.aliases[spec["index"]].remove(spec["alias"])
                elif kind == "remove_index":
                    self.aliases.pop(spec["index"], None)
            return 200, {"acknowledged": True}
        if "_alias" in parts:
            name = parts[-1]
            found = {index: {"aliases": {name: {}}} for index, names in self.aliases.items() if name in names}
            if not found:
                return 404, {"error": f"alias [{name}] missing", "status": 404}
            return 200, found
        if len(parts) == 1 and method == "HEAD":
            known = parts[0] in self.aliases or any(parts[0] in names for names in self.aliases.values())
            return (200 if known else 404), {}
        if parts and parts[-1] == "_count":
            return 200, {"count": self.count, "_shards": {"total": 1, "successful": 1, "failed": 0}}
        if parts and parts[-1] == "_search":
            failed = self.search_failed_shards
            return 200, {
                "took": 1,
                "timed_out": False,
                "_shards": {"total": 1 + failed, "successful": 1, "skipped": 0, "failed": failed},
                "hits": {
                    "total": {"value": self.search_total, "relation": "eq"},
                    "max_score": None,
                    "hits": self.search_hits,
                },
            }
        if parts and parts[-1] == "_mget":
            index = parts[0]
            return 200, {
                "docs": [
                    {"_index": index, "_id": doc_id, "found": True, "_version": 1, "_source": self.documents[doc_id]}
                    if doc_id in self.documents
                    else {"_index": index, "_id": doc_id, "found": False}
                    for doc_id in body["ids"]
                ]
            }
        if len(parts) == 1 and method == "PUT":
            self.aliases.setdefault(parts[0], [])
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
        if len(parts) == 1 and method == "DELETE":
            self.aliases.pop(parts[0], None)
            return 200, {"acknowledged": True}
        if len(parts) == 1 and method == "GET":
            prefix = parts[0].rstrip("*")
            return 200, {name: {} for name in self.aliases if name.startswith(prefix)}
        return 404, {"error": f"no fake for {method} {path}", "status": 404}

    def _bulk(self, lines: list[dict]) -> dict:
        items = []
        index = 0
        while index < len(lines):
            ((action, meta),) = lines[index].items()
            index += 1 if action == "delete" else 2
            status = self.bulk_statuses.get(meta["_id"], 200 if action == "delete" else 201)
            result = {"_index": meta["_index"], "_id": meta["_id"], "status": status}
            if status == 409:
                result["error"] = {"type": "version_conflict_engine_exception", "reason": "current version is higher"}
            elif status >= 400:
                result["error"] = {"type": "mapper_parsing_exception", "reason": "failed to parse"}
            items.append({action: result})
        return {"took": 1, "errors": any(i[next(iter(i))]["status"] >= 300 for i in items), "items": items}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeElasticsearch

    def log_message(self, *args) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        if raw and split.path.endswith("_bulk"):
            body = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        else:
            body = json.loads(raw) if raw else None
        with self.fake.lock:
            if self.fake.drop_next > 0:
                self.fake.drop_next -= 1
                self.fake.requests.append(Recorded(self.command, split.path, parse_qs(split.query), "<dropped>"))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.fake.requests.append(
                Recorded(
                    self.command,
                    split.path,
                    parse_qs(split.query),
                    body,
                    {k.lower(): v for k, v in self.headers.items()},
                )
            )
            status, payload = self.fake.answer(self.command, split.path, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in ES_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def serve() -> tuple[FakeElasticsearch, ThreadingHTTPServer]:
    fake = FakeElasticsearch()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
