"""OpenAPI descriptions of our request-signing authenticators (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

SIGNATURE_DESCRIPTION = (
    "HMAC-SHA256 request signature. Send X-App-Key, X-Timestamp (Unix seconds), X-Nonce "
    "(unique per request) and X-Signature = hex(HMAC-SHA256(app secret, "
    "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))). Requests more than five "
    "minutes off and replayed nonces are refused with 401."
)


class ShopSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.channels.authentication.ShopSignatureAuthentication"
    name = "shopSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-App-Key", "description": SIGNATURE_DESCRIPTION}


class WmsSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.orders.api.wms_views.WmsSignatureAuthentication"
    name = "wmsSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-App-Key", "description": SIGNATURE_DESCRIPTION}
