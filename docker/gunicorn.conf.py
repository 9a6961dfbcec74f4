"""gunicorn settings for the web role (``gunicorn -c docker/gunicorn.conf.py oms.wsgi:application``).

Request-size limits sit above the application's own (``API_MAX_REQUEST_TARGET``,
``API_MAX_HEADER_BYTES``), so the application answers most oversized requests itself in
the API's JSON shape; what gunicorn must refuse before Django sees it (a request line or a
header beyond these limits, an unreadable request) is answered in the same JSON shape too,
never gunicorn's HTML page.
"""

import json
import os

from gunicorn import util

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gthread: bench/bench_http.py measured 2 processes x 8 threads best on 2 cores (docs/SCALING.md).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = "-"
forwarded_allow_ips = "*"
limit_request_line = 8190  # gunicorn's maximum
limit_request_fields = 100
limit_request_field_size = 16380

ERROR_CODES = {
    400: "bad_request",
    403: "permission_denied",
    414: "request_line_too_long",
    417: "bad_request",
    431: "request_header_too_large",
    501: "bad_request",
}


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn's refusal, as the API's ``{"code", "message", "details"}`` (never the request's text)."""
    body = json.dumps({"code": ERROR_CODES.get(status_int, "server_error"), "message": reason, "details": {}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)


# The workers call gunicorn.util.write_error for every request they refuse themselves.
util.write_error = write_json_error
