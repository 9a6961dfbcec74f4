"""OpenAPI description of the WMS signature authenticator (a drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.core.api.schema import SIGNATURE_DESCRIPTION


class WmsSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.orders.api.wms_views.WmsSignatureAuthentication"
    name = "wmsSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-App-Key", "description": SIGNATURE_DESCRIPTION}
