"""/api/docs renders the API's operations under the real Content-Security-Policy: Swagger UI's
script and style come from the service itself and its start-up code is a file, not inline.

The ``page`` fixture fails the test on any CSP violation, console error or uncaught error.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_api_docs_list_the_operations(page: Page, live_sqlite: Live) -> None:
    response = await page.goto(f"{live_sqlite.base_url}/api/docs")
    assert response is not None and response.ok
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Teamwell")
    login = page.locator(".opblock").filter(has_text="/api/v1/auth/login").first
    await expect(login).to_be_visible()
    assert await page.locator(".opblock").count() > 50
    # Only what the page uses is served from the package.
    other = await page.request.get(f"{live_sqlite.base_url}/api/docs/index.html")
    assert other.status == 404
