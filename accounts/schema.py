"""OpenAPI description of API-key authentication (drf-spectacular discovers it on import)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Api-Key <key>`: create keys in the partner console (`/console/`) or with "
                "`manage.py create_api_key`. A key opens only its scopes: recognize, catalog, webhooks, monitors."
            ),
        }
