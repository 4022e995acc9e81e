"""The HTTP app: the native API under /api/v1, the `diffgram`-compatible routes, auth."""

from labelport.api.app import create_app, route_table

__all__ = ["create_app", "route_table"]
