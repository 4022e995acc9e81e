"""The verification pages: sign in, a project, its imports, and every file drawn with its
instances. Served by `labelport serve` at /ui (see `labelport.web.app`)."""

from labelport.web.app import create_web_app, mount, signin_url
from labelport.web.state import PREFIX

__all__ = ["PREFIX", "create_web_app", "mount", "signin_url"]
