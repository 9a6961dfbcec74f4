"""Serve the sandbox gateway over HTTP (threaded wsgiref), in a thread or in the foreground."""

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from apps.payments.sandbox.gateway import SandboxConfig, SandboxGateway


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve_in_thread(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0):
    """Start the gateway in a daemon thread; returns (gateway, server). ``port=0`` picks a free port
    and ``config.public_url`` is set to the address actually bound. Stop with ``server.shutdown()``."""
    gateway = SandboxGateway(config)
    server = make_server(host, port, gateway.wsgi, server_class=_ThreadingServer, handler_class=_QuietHandler)
    config.public_url = f"http://{host}:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return gateway, server


def serve_forever(config: SandboxConfig, *, host: str, port: int) -> None:
    gateway = SandboxGateway(config)
    with make_server(host, port, gateway.wsgi, server_class=_ThreadingServer) as server:
        server.serve_forever()
