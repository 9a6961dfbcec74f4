"""What OpenAPI says of a request signature (``apps.core.signatures``).

Each app that authenticates signed requests registers its own drf-spectacular extension with
this description (shops for the shop apps, orders for the WMS).
"""

SIGNATURE_DESCRIPTION = (
    "HMAC-SHA256 request signature. Send X-App-Key, X-Timestamp (Unix seconds), X-Nonce "
    "(unique per request) and X-Signature = hex(HMAC-SHA256(app secret, "
    "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))). Requests more than five "
    "minutes off and replayed nonces are refused with 401."
)
