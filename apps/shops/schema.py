"""OpenAPI description of the shop signature authenticator (a drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.core.api.schema import SIGNATURE_DESCRIPTION


class ShopSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "apps.shops.authentication.ShopSignatureAuthentication"
    name = "shopSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-App-Key", "description": SIGNATURE_DESCRIPTION}
