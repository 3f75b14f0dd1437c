"""The web client's outbox against the server's message rate: messages written while offline
are sent, once each and in order, when the network is back, on a server with a real rate limit
(the other tests' servers allow 100 messages a second).

The keyworker's sockets are routed through the test so that it can drop them as a lost network
does: the browser's offline mode leaves open sockets alone. Everything passes through unchanged,
and the close codes the server sent are recorded.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pyotp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.browser.support import PageProblems, open_page, sign_in
from tests.conftest import ROLE_EMAILS, Live, live_server

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

TEAM = "Newcastle IPS Team"
OFFLINE_MESSAGES = 60
# A burst of 5 then 10 a second: 60 messages flushed at once would be 55 refusals, far past the
# 5 refused frames in a row that close a socket.
LIMITS = {
    "TEAMWELL_MESSAGES_PER_SECOND": "10",
    "TEAMWELL_MESSAGE_BURST": "5",
    "TEAMWELL_WS_MAX_CONSECUTIVE_ERRORS": "5",
}


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory, "outbox", extra_env=LIMITS) as running:
        yield running


class Link:
    def __init__(self) -> None:
        self.routes: list[WebSocketRoute] = []
        self.server_closes: list[int | None] = []
        self._closing: set[asyncio.Future[None]] = set()  # kept until done

    def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def closed(code: int | None, reason: str | None) -> None:
            self.server_closes.append(code)
            # The page side closes as the server's did (1005/1006 cannot be sent).
            if code is None or code in (1005, 1006):
                closing = asyncio.ensure_future(ws.close())
            else:
                closing = asyncio.ensure_future(ws.close(code=code, reason=reason))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

        server.on_close(closed)
        self.routes.append(ws)

    async def drop(self) -> None:
        routes, self.routes = self.routes, []
        for ws in routes:
            await ws.close(code=1001, reason="the network went away")


@pytest_asyncio.fixture(loop_scope="session")
async def keyworker(browser: Browser, rated: Live) -> AsyncIterator[tuple[Page, Link]]:
    # The code of the next 30 s step: enrolment (as_role) used the current one.
    secret = rated.as_role("peer_keyworker").totp_secret
    assert secret
    problems = PageProblems()
    context, page = await open_page(browser, problems)
    link = Link()
    await context.route_web_socket(re.compile(r"/ws$"), link.route)  # before the page opens one
    try:
        await sign_in(
            page,
            rated,
            ROLE_EMAILS["peer_keyworker"],
            code=pyotp.TOTP(secret).at(time.time() + 30),
        )
        yield page, link
    finally:
        await context.close()
    # A request the page made while the network was off fails, and the browser says so; that
    # is the network, not the page.
    problems.console_errors = [
        text for text in problems.console_errors if "net::ERR_INTERNET_DISCONNECTED" not in text
    ]
    problems.assert_clean()


async def test_messages_written_offline_are_sent_once_in_order_after_reconnecting(
    keyworker: tuple[Page, Link], rated: Live
) -> None:
    """Sixty messages written while offline go, once each and in the order written, when the
    network is back: the outbox paces them to ready.limits and sends any refused as
    rate_limited again after retry_after_ms. None is marked "Not sent", and the socket is not
    closed for too many refused frames (4400)."""
    page, link = keyworker
    await (
        page.get_by_role("navigation", name="Messaging")
        .get_by_role("link", name="Messages")
        .click()
    )
    await page.get_by_role("button", name="Team conversation").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(TEAM)
    conversation = page.url.rsplit("/", 1)[-1]
    tag = uuid.uuid4().hex[:6]
    bodies = [f"Offline note {n} ({tag})" for n in range(OFFLINE_MESSAGES)]

    await page.context.set_offline(True)
    await link.drop()
    await expect(page.get_by_text("You are offline.")).to_be_visible()
    composer = page.get_by_label("Message", exact=True)
    for body in bodies:
        await composer.fill(body)
        await composer.press("Enter")
        await expect(composer).to_have_value("")
    log = page.get_by_role("log", name=f"Messages in {TEAM}")
    ours = log.get_by_role("listitem").filter(has_text=f"({tag})")
    await expect(ours.filter(has_text="Sending…")).to_have_count(OFFLINE_MESSAGES)

    await page.context.set_offline(False)  # the "online" event reconnects at once
    await expect(ours.filter(has_text="Sending…")).to_have_count(0, timeout=60_000)
    await expect(ours).to_have_count(OFFLINE_MESSAGES)
    await expect(log.get_by_text("Not sent")).to_have_count(0)

    history = rated.as_role("peer_keyworker").get(
        f"/api/v1/conversations/{conversation}/messages", params={"limit": 100}
    )
    assert history.status_code == 200, history.text
    stored = [m["body"] for m in history.json()["messages"] if f"({tag})" in m["body"]]
    assert stored == bodies  # every one, once, in the order written
    assert 4400 not in link.server_closes, link.server_closes
