"""The browser fixtures of tests/web (Debian's Chromium through Playwright, a signed-in page),
reused by the evaluation's page tests."""

from web.conftest import Dialogs, app, base_url, page  # noqa: F401
