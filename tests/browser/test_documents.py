"""Documents through the web client, on a server of their own whose scanner is a real clamd
(tests/support/clamd.py, the EICAR signature) and whose chunks are small, so a file of a few
kilobytes goes in several and the progress bar has somewhere to be between 0 and 100.

The keyworker adds a PDF and an image to Alex's record, previews both, downloads one and shares
it; Alex, on a phone, finds it under "My documents" and adds a CV; the EICAR file is refused in
words on the page; a file over the size limit is refused with the server's own words; a chunk
lost on the way is sent again and the upload completes; a file attached in a case thread appears
live for the other member; a document renamed, given a new version (the history showing both,
with who and when) and deleted with a reason in its dialog; a file waiting while clamd is away
("Checking for viruses…") shown once the scan job finds it clean; a client sending a file in
their conversation with their team, on a phone. Each new screen is axe clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Locator,
    Page,
    Route,
    expect,
)

from tests.app.documents.test_content import pdf, png
from tests.app.documents.test_documents import open_case_thread, upload
from tests.browser.accessibility import axe_check
from tests.browser.support import (
    CLIENT_NAME,
    MEDIA_CSP,
    Person,
    meeting_for_alex,
    only_these_refusals,
    open_client,
    open_nav,
    open_person,
    sign_in_as,
)
from tests.conftest import Live, live_server
from tests.support.builders import client_id_of
from tests.support.clamd import EICAR, ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CHUNK = 1024
MAX_BYTES = 64 * 1024
# Per person a day: the keyworker's uploads across this module stay well under it; the
# specialist reaches it on purpose.
DAILY_BYTES = 48 * 1024
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}

# Every value the page gives a <progress> bar, in order (test instrumentation, run before the
# page's own scripts).
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver((records) => {
  for (const record of records) {
    if (record.target.tagName === 'PROGRESS') {
      window.__progress.push(Number(record.target.getAttribute('value')));
    }
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
// And every label an upload's progress shows, with the bar's value when it was shown.
window.__labels = [];
new MutationObserver((records) => {
  for (const record of records) {
    const parent = record.target.parentElement;
    const label = parent && parent.closest('.upload__label');
    if (label) {
      const bar = label.parentElement.querySelector('progress');
      window.__labels.push([label.textContent, Number(bar && bar.getAttribute('value'))]);
    }
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, clamd: ClamdServer) -> Iterator[Live]:
    env = {
        **clamd.settings_env(),
        "TEAMWELL_DOCUMENT_CHUNK_BYTES": str(CHUNK),
        "TEAMWELL_DOCUMENT_MAX_BYTES": str(MAX_BYTES),
        "TEAMWELL_DOCUMENT_DAILY_BYTES_PER_PERSON": str(DAILY_BYTES),
        # A scan that waited for clamd is retried within a second or so once it is back.
        "TEAMWELL_JOBS_IN_SERVICE": "true",
        "TEAMWELL_JOBS_POLL_SECONDS": "0.2",
        "TEAMWELL_JOBS_RETRY_BASE_SECONDS": "0.5",
        "TEAMWELL_JOBS_RETRY_MAX_SECONDS": "1",
        "TEAMWELL_JOBS_MAX_ATTEMPTS": "50",
    }
    with live_server(tmp_path_factory, "documents-web", extra_env=env) as running:
        yield running


def a_pdf(size: int) -> bytes:
    """A real PDF padded with a comment to ``size`` bytes."""
    body = pdf()
    return body + b"%" + b"x" * (size - len(body) - 2) + b"\n"


def file(name: str, mime: str, data: bytes) -> FilePayload:
    return FilePayload(name=name, mimeType=mime, buffer=data)


def documents(page: Page) -> Locator:
    return page.get_by_role("region", name=re.compile(r"^(Documents|Your files)$"))


def item(where: Locator, title: str) -> Locator:
    return where.get_by_role("listitem").filter(
        has=where.page.locator(".document__title", has_text=re.compile(f"^{re.escape(title)}$"))
    )


async def upload_file(
    where: Locator, data: FilePayload, *, folder: str | None = None, share: bool = False
) -> None:
    if folder is not None:
        await where.get_by_label("Folder").select_option(label=folder)
    if share:
        await where.locator(".documents__upload").get_by_label("Visible to client").check()
    await where.get_by_label("Choose a file").set_input_files(data)
    await where.get_by_role("button", name="Upload", exact=True).click()


async def staff(browser: Browser, live: Live, people: list[BrowserContext], **kw: Any) -> Person:
    person = await open_person(browser, RECORD_PROGRESS, contexts=people, **kw)
    await sign_in_as(person.page, live, "peer_keyworker")
    return person


async def test_staff_upload_preview_download_and_share_on_the_record(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    await open_client(page)
    section = documents(page)
    await expect(section.get_by_role("heading", name="Documents")).to_be_visible()
    await axe_check(page, "the Documents section of a client's record")

    letter = a_pdf(6 * CHUNK + 100)  # seven chunks
    await upload_file(
        section, file("offer-letter.pdf", "application/pdf", letter), folder="Letters"
    )
    await expect(
        section.get_by_role("status").filter(has_text="offer-letter.pdf uploaded.")
    ).to_be_visible()
    letters = section.get_by_role("region", name="Letters")
    pdf_item = item(letters, "offer-letter.pdf")
    await expect(pdf_item).to_contain_text("Version 1 · offer-letter.pdf")
    await expect(pdf_item).to_contain_text("Checked for viruses")
    # The bar passed through values between empty and full, chunk by chunk, and ended full.
    seen: list[float] = await page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen
    assert seen[-1] == 100, seen
    assert seen == sorted(seen), seen

    await upload_file(section, file("badge.png", "image/png", png()), folder="Other")
    other = section.get_by_role("region", name="Other")
    image_item = item(other, "badge.png")
    await expect(image_item).to_contain_text("Checked for viruses")

    # Previews: the PDF in a sandboxed frame, the image as an image, both from /files/ links.
    async with page.expect_response(re.compile(r"/files/")) as pdf_answer:
        await pdf_item.get_by_role("button", name="Preview offer-letter.pdf").click()
    answer = await pdf_answer.value
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("inline")
    # Framed by the web client's own page alone (every other answer may not be framed at all).
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in answer.headers["content-security-policy"]
    frame = pdf_item.locator("iframe")
    await expect(frame).to_have_attribute("title", "Preview of offer-letter.pdf")
    await expect(frame).to_have_attribute("sandbox", "")
    await expect(frame).to_have_attribute("src", re.compile(r"^/files/"))

    await image_item.get_by_role("button", name="Preview badge.png").click()
    picture = image_item.get_by_role("img", name="Preview of badge.png")
    await expect(picture).to_be_visible()
    await expect(picture).to_have_js_property("naturalWidth", 1)
    await axe_check(page, "a record's documents with two previews open")

    # Download: the browser fetches the link and saves what was uploaded.
    async with page.expect_download() as saving:
        await pdf_item.get_by_role("button", name="Download offer-letter.pdf").click()
    saved = await saving.value
    assert saved.suggested_filename == "offer-letter.pdf"
    assert await asyncio.to_thread(Path(await saved.path()).read_bytes) == letter

    # Shared with the client (the PATCH is done before the box is left checked).
    async with page.expect_response(
        lambda r: r.request.method == "PATCH" and "/api/v1/documents/" in r.url
    ) as shared:
        await pdf_item.get_by_label("Visible to client for offer-letter.pdf").check()
    assert (await shared.value).status == 200
    await expect(pdf_item.get_by_label("Visible to client for offer-letter.pdf")).to_be_checked()
    keyworker.problems.assert_clean()


async def test_the_bar_moves_more_than_once_for_a_file_of_one_chunk(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    """A file of one chunk (most files, at the default 8 MiB) is one request, the file whole
    (``POST /documents``): the bar moves as its bytes leave the browser (XMLHttpRequest's upload
    events), then says the file is being checked (type, viruses: seconds for a large file), and
    is full only once it is kept. Nothing else is sent: no upload started, no chunk."""
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    await open_client(page)
    section = documents(page)
    await expect(section.get_by_role("heading", name="Documents")).to_be_visible()
    chunked: list[str] = []
    page.on(
        "request",
        lambda sent: chunked.append(sent.url) if "/api/v1/documents/uploads" in sent.url else None,
    )
    await upload_file(
        section, file("one-chunk.pdf", "application/pdf", a_pdf(CHUNK)), folder="Forms"
    )
    await expect(
        section.get_by_role("status").filter(has_text="one-chunk.pdf uploaded.")
    ).to_be_visible()
    seen: list[float] = await page.evaluate("window.__progress")
    labels: list[list[Any]] = await page.evaluate("window.__labels")
    # Past empty once the bytes had left, "Checking" while the server checks it, then full.
    checking = [value for text, value in labels if text.startswith("Checking one-chunk.pdf")]
    assert checking and 0 < checking[0] < 100, labels
    assert any(0 < value < 100 for value in seen), seen
    assert seen[-1] == 100, seen
    assert seen == sorted(seen), seen
    assert chunked == [], chunked  # no upload started, no chunk: the file went whole
    await axe_check(page, "a record's documents after an upload of one chunk")
    keyworker.problems.assert_clean()


async def test_the_client_on_a_phone_sees_what_is_shared_and_adds_a_cv(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = live.as_role("peer_keyworker")
    alex = client_id_of(live, CLIENT_NAME)
    data = a_pdf(2 * CHUNK)
    upload(
        keyworker,
        data,
        client_id=alex,
        kind="letters",
        title="Benefits letter",
        shared_with_client=True,
    )
    upload(keyworker, a_pdf(CHUNK), client_id=alex, kind="forms", title="Team notes form")

    person = await open_person(browser, RECORD_PROGRESS, contexts=people, **PHONE)
    page = person.page
    await sign_in_as(page, live, "client")
    await open_nav(page, "My documents")
    section = documents(page)
    shared = item(section, "Benefits letter")
    await expect(shared).to_be_visible()
    await expect(section).not_to_contain_text("Team notes form")  # not shared with Alex
    await axe_check(page, "My documents on a phone")

    await shared.get_by_role("button", name="Preview Benefits letter").click()
    await expect(shared.locator("iframe[sandbox]")).to_have_attribute("src", re.compile("^/files/"))
    async with page.expect_download() as saving:
        await shared.get_by_role("button", name="Download Benefits letter").click()
    assert await asyncio.to_thread(Path(await (await saving.value).path()).read_bytes) == data

    cv = ("Alex Morgan\nCurriculum vitae\n" + "Experience and skills.\n" * 200).encode()
    await upload_file(section, file("my cv.txt", "text/plain", cv), folder="CV")
    cv_item = item(section.get_by_role("region", name="CV"), "my cv.txt")
    await expect(cv_item).to_contain_text("Checked for viruses")
    seen: list[float] = await page.evaluate("window.__progress")
    assert any(0 < value < 100 for value in seen), seen
    # The bar fits the phone's width.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await axe_check(page, "My documents on a phone after adding a CV")
    person.problems.assert_clean()


async def test_the_eicar_file_is_refused_visibly(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    await open_client(page)
    section = documents(page)
    await upload_file(section, file("eicar.txt", "text/plain", EICAR), folder="Other")
    await expect(section.get_by_role("alert").filter(has_text="Malware found")).to_have_text(
        "Malware found — eicar.txt was removed and not shared with anyone."
    )
    quarantined = item(section.get_by_role("region", name="Other"), "eicar.txt")
    await expect(quarantined).to_contain_text("Malware found — removed")
    await expect(
        quarantined.get_by_role("button", name=re.compile("^(Preview|Download)"))
    ).to_have_count(0)
    await axe_check(page, "a record with a quarantined upload")
    keyworker.problems.assert_clean()


async def test_a_file_over_the_limit_is_refused_in_the_servers_words(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    await open_client(page)
    section = documents(page)
    await upload_file(section, file("huge.pdf", "application/pdf", a_pdf(MAX_BYTES + 1)))
    await expect(section.get_by_role("alert").filter(has_text=str(MAX_BYTES))).to_be_visible()
    refused = [e for e in keyworker.problems.console_errors if "status of 413" in e]
    assert refused, keyworker.problems.console_errors
    for entry in refused:
        keyworker.problems.console_errors.remove(entry)
    keyworker.problems.assert_clean()


async def test_the_daily_limit_is_said_with_when_to_try_again(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    person = await open_person(browser, contexts=people)
    page = person.page
    await sign_in_as(page, live, "employment_specialist")
    await open_client(page)
    section = documents(page)
    await upload_file(
        section, file("big form.pdf", "application/pdf", a_pdf(40 * 1024)), folder="Forms"
    )
    await expect(item(section.get_by_role("region", name="Forms"), "big form.pdf")).to_be_visible()
    await upload_file(section, file("one more.pdf", "application/pdf", a_pdf(10 * 1024)))
    refusal = section.get_by_role("alert").filter(has_text="in 24 hours")
    await expect(refusal).to_contain_text(f"You may upload {DAILY_BYTES} bytes in 24 hours")
    # Retry-After, in the person's words: the first upload stops counting in about a day.
    await expect(refusal).to_contain_text(
        re.compile(r"You can upload again in about \d+ minutes\.")
    )
    only_these_refusals(person.problems, [("429", "/api/v1/documents/uploads")])


async def test_a_lost_chunk_is_sent_again_and_the_upload_completes(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    lost: list[str] = []

    async def lose_the_second_chunk_once(route: Route) -> None:
        if (
            route.request.method == "PUT"
            and route.request.url.endswith(f"/chunks/{CHUNK}")
            and not lost
        ):
            lost.append(route.request.url)
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route(
        re.compile(r"/api/v1/documents/uploads/[^/]+/chunks/\d+$"), lose_the_second_chunk_once
    )
    await open_client(page)
    section = documents(page)
    data = a_pdf(4 * CHUNK)
    await upload_file(section, file("resumed.pdf", "application/pdf", data), folder="Forms")
    await expect(item(section.get_by_role("region", name="Forms"), "resumed.pdf")).to_contain_text(
        "Version 1"
    )
    assert lost, "the second chunk was never sent"
    # Chromium reports the lost request; nothing else went wrong.
    dropped = [e for e in keyworker.problems.console_errors if "ERR_CONNECTION_RESET" in e]
    for entry in dropped:
        keyworker.problems.console_errors.remove(entry)
    keyworker.problems.assert_clean()
    async with page.expect_download() as saving:
        await (
            item(section, "resumed.pdf").get_by_role("button", name="Download resumed.pdf").click()
        )
    assert await asyncio.to_thread(Path(await (await saving.value).path()).read_bytes) == data


async def test_an_upload_is_cancelled_while_its_chunks_go(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    held: asyncio.Queue[Route] = asyncio.Queue()

    async def hold_the_second_chunk(route: Route) -> None:
        if route.request.url.endswith(f"/chunks/{CHUNK}"):
            await held.put(route)  # answered only after the person cancelled
        else:
            await route.continue_()

    await page.route(
        re.compile(r"/api/v1/documents/uploads/[^/]+/chunks/\d+$"), hold_the_second_chunk
    )
    await open_client(page)
    section = documents(page)
    await upload_file(section, file("cancelled.pdf", "application/pdf", a_pdf(5 * CHUNK)))
    waiting = await asyncio.wait_for(held.get(), timeout=10)
    bar = section.get_by_role("progressbar", name="Uploading cancelled.pdf")
    await expect(bar).to_be_visible()
    # One chunk of five has been answered: the bar is past it (the second one's bytes may be
    # on their way too), far from full.
    await expect(section.get_by_text(re.compile(r"^(19|[2-3]\d)%$"))).to_be_visible()
    await section.get_by_role("button", name="Cancel upload").click()
    await expect(section.get_by_role("status").filter(has_text="Upload cancelled.")).to_be_visible()
    await expect(bar).to_be_hidden()
    with contextlib.suppress(Exception):  # the browser gave up on it: nothing to answer
        await waiting.continue_()
    await expect(section.get_by_text("cancelled.pdf", exact=True)).to_have_count(0)
    keyworker.problems.assert_clean()


async def test_a_file_attached_in_a_case_thread_appears_live_for_the_other_member(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    therapist = await open_person(browser, contexts=people)
    await sign_in_as(therapist.page, live, "therapist")

    await open_client(keyworker.page)
    await keyworker.page.get_by_role("button", name="Care team thread").click()
    await expect(keyworker.page).to_have_url(re.compile(r"#/messages/[^/]+$"))
    thread_url = keyworker.page.url
    await therapist.page.goto(thread_url)
    await expect(therapist.page.get_by_role("textbox", name="Message")).to_be_visible()
    log = therapist.page.get_by_role("log")

    page = keyworker.page
    await page.get_by_role("button", name="Attach file").click()
    await page.get_by_label("File to send").set_input_files(
        file("job advert.pdf", "application/pdf", a_pdf(3 * CHUNK))
    )
    await page.get_by_role("button", name="Send file").click()
    await expect(page.get_by_role("log")).to_contain_text("Shared a file: job advert.pdf")

    # The therapist did nothing: the card came by the document.added frame.
    card = log.get_by_role("listitem").filter(has_text="Shared a file: job advert.pdf")
    await expect(card).to_be_visible()
    await expect(card.get_by_role("button", name="Download job advert.pdf")).to_be_visible()
    files = therapist.page.locator("details.thread__files")
    await files.get_by_text("Files in this conversation").click()
    await expect(files.get_by_role("listitem").filter(has_text="job advert.pdf")).to_be_visible()
    await axe_check(therapist.page, "a case thread with a file")
    await axe_check(page, "a case thread with the attach panel open")
    keyworker.problems.assert_clean()
    therapist.problems.assert_clean()


async def test_a_meetings_agenda_is_uploaded_on_its_page(
    media_browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    title = "Review with Alex"
    meeting_id = meeting_for_alex(live, title)
    person = await open_person(media_browser, contexts=people)
    page = person.page
    await sign_in_as(page, live, "peer_keyworker", csp_contains=MEDIA_CSP)
    await page.goto(f"{live.base_url}/#/meetings/{meeting_id}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    papers = page.get_by_role("region", name="Agenda and notes")
    await papers.get_by_label("Folder").select_option(label="Agenda")
    await papers.get_by_label("Choose a file").set_input_files(
        file("agenda.pdf", "application/pdf", a_pdf(2 * CHUNK))
    )
    await papers.get_by_role("button", name="Upload", exact=True).click()
    agenda = item(papers.get_by_role("region", name="Agenda"), "agenda.pdf")
    await expect(agenda).to_contain_text("Checked for viruses")
    await expect(agenda.get_by_role("button", name="Preview agenda.pdf")).to_be_visible()
    await axe_check(page, "a meeting's agenda and notes")
    person.problems.assert_clean()


async def test_rename_a_new_version_its_history_and_delete_with_a_reason(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    keyworker = await staff(browser, live, people)
    page = keyworker.page
    name = live.as_role("peer_keyworker").user["display_name"]
    await open_client(page)
    section = documents(page)
    await upload_file(section, file("cv.pdf", "application/pdf", a_pdf(2 * CHUNK)), folder="CV")
    cvs = section.get_by_role("region", name="CV")
    await expect(item(cvs, "cv.pdf")).to_contain_text("Checked for viruses")

    # Rename: the new title is the server's.
    cv = item(cvs, "cv.pdf")
    await cv.locator("summary", has_text="Rename").click()
    await cv.get_by_label("New title for cv.pdf").fill("Alex's CV")
    await cv.get_by_role("button", name="Save title").click()
    renamed = item(cvs, "Alex's CV")
    await expect(renamed).to_be_visible()
    await expect(item(cvs, "cv.pdf")).to_have_count(0)

    # A new version: the current one says 2, the history lists both with who and when.
    second = a_pdf(3 * CHUNK)
    await renamed.locator("summary", has_text="New version").click()
    await renamed.get_by_label("A new version of Alex's CV").set_input_files(
        file("cv-june.pdf", "application/pdf", second)
    )
    await renamed.get_by_role("button", name="Upload new version").click()
    await expect(renamed).to_contain_text("Version 2 · cv-june.pdf")
    await renamed.locator("summary", has_text="Versions (2)").click()
    versions = renamed.locator("ol.documents__versions > li")
    await expect(versions).to_have_count(2)
    await expect(versions.nth(0)).to_contain_text(f"Version 2: cv-june.pdf, 3 KB, {name}, ")
    await expect(versions.nth(1)).to_contain_text(f"Version 1: cv.pdf, 2 KB, {name}, ")
    await expect(versions.nth(1)).to_contain_text(re.compile(r"\d{4}"))  # when, dated
    async with page.expect_download() as saving:
        await renamed.get_by_role("button", name="Download version 2 Alex's CV").click()
    assert await asyncio.to_thread(Path(await (await saving.value).path()).read_bytes) == second
    await axe_check(page, "a document's version history, rename and new version open")

    # Delete: the dialog asks why, refuses too short a reason, then the document goes.
    document_id = next(
        d["id"]
        for d in live.as_role("peer_keyworker")
        .get(f"/api/v1/clients/{client_id_of(live, CLIENT_NAME)}/documents")
        .json()
        if d["title"] == "Alex's CV"
    )
    await renamed.get_by_role("button", name="Delete Alex's CV").click()
    dialog = page.get_by_role("dialog", name="Delete Alex's CV?")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Reason for deleting")).to_be_focused()
    await axe_check(page, "the delete dialog of a document")
    await dialog.get_by_role("button", name="Delete document").click()
    await expect(dialog.get_by_role("alert")).to_have_text(
        "Say why it is being deleted (at least 3 characters)."
    )
    await dialog.get_by_label("Reason for deleting").fill("Uploaded to the wrong record")
    await dialog.get_by_role("button", name="Delete document").click()
    await expect(dialog).to_have_count(0)
    await expect(item(section, "Alex's CV")).to_have_count(0)
    gone = live.as_role("peer_keyworker").get(f"/api/v1/documents/{document_id}").json()
    assert gone["deleted_at"] and gone["delete_reason"] == "Uploaded to the wrong record"
    keyworker.problems.assert_clean()


async def test_while_clamd_is_away_a_file_says_checking_then_the_job_shows_it(
    browser: Browser, live: Live, people: list[BrowserContext], clamd: ClamdServer
) -> None:
    keyworker = await staff(browser, live, people)
    therapist = await open_person(browser, contexts=people)
    await sign_in_as(therapist.page, live, "therapist")
    await open_client(therapist.page)
    theirs = documents(therapist.page)
    await expect(theirs.get_by_role("heading", name="Documents")).to_be_visible()
    page = keyworker.page
    await open_client(page)
    section = documents(page)
    clamd.halt()
    try:
        await upload_file(
            section, file("fit note.pdf", "application/pdf", a_pdf(2 * CHUNK)), folder="Forms"
        )
        waiting = item(section.get_by_role("region", name="Forms"), "fit note.pdf")
        await expect(waiting).to_contain_text("Checking for viruses…")
        await expect(waiting).not_to_contain_text("Checked for viruses")  # never said unscanned
        await axe_check(page, "a record with a file waiting for its scan")
        # Only its uploader sees it until it is found clean.
        await expect(theirs).not_to_contain_text("fit note.pdf")
    finally:
        clamd.resume()
    # The scan job (retried every second here) finds it clean; both pages are told live.
    await expect(waiting).to_contain_text("Checked for viruses", timeout=30_000)
    await expect(item(theirs.get_by_role("region", name="Forms"), "fit note.pdf")).to_contain_text(
        "Checked for viruses", timeout=30_000
    )
    keyworker.problems.assert_clean()
    therapist.problems.assert_clean()


async def test_a_client_attaches_a_file_in_their_conversation_with_their_team(
    browser: Browser, live: Live, people: list[BrowserContext]
) -> None:
    thread = open_case_thread(live, CLIENT_NAME, includes_client=True)
    person = await open_person(browser, contexts=people, **PHONE)
    page = person.page
    await sign_in_as(page, live, "client")
    await page.get_by_role("link", name=re.compile("^Messages")).first.click()
    await page.get_by_role("link", name=re.compile("Your care team")).first.click()
    await expect(page).to_have_url(re.compile(f"#/messages/{thread}$"))
    await page.get_by_role("button", name="Attach file").click()
    await page.get_by_label("File to send").set_input_files(
        file("payslip.pdf", "application/pdf", a_pdf(2 * CHUNK))
    )
    await page.get_by_role("button", name="Send file").click()
    log = page.get_by_role("log")
    card = log.get_by_role("listitem").filter(has_text="Shared a file: payslip.pdf")
    await expect(card).to_contain_text("You")
    await expect(card.get_by_role("button", name="Download payslip.pdf")).to_be_visible()
    files = page.locator("details.thread__files")
    await files.get_by_text("Files in this conversation").click()
    await expect(files.get_by_role("listitem").filter(has_text="payslip.pdf")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await axe_check(page, "a client's conversation with their team, a file sent")
    # Their team reads it.
    listed = live.as_role("peer_keyworker").get(f"/api/v1/conversations/{thread}/documents")
    assert "payslip.pdf" in [d["title"] for d in listed.json()]
    person.problems.assert_clean()
