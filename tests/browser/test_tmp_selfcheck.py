import pytest
from playwright.async_api import Page

from tests.conftest import Live

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_inline_script_is_reported(page: Page, live_sqlite: Live) -> None:
    await page.goto(live_sqlite.base_url + "/")
    await page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1';"
        " document.body.append(s); }"
    )
    await page.evaluate("() => { throw_me_not_defined }")  if False else None
    await page.wait_for_timeout(300)
