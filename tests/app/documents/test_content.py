"""Content identification by the bytes, the zip-bomb check and safe filenames: each allowed kind
built here as a tiny real file, and the files that pretend to be something they are not."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence

import pytest

from app.documents.content import (
    ALLOWED,
    MAX_ARCHIVE_ENTRIES,
    MAX_FILENAME_LENGTH,
    REFUSAL_CODES,
    ContentRefused,
    IdentifiedContent,
    identify,
    safe_filename,
)

RATIO = 100
EXPANDED = 5 * 1024 * 1024


def check(data: bytes, *, ratio: int = RATIO, expanded: int = EXPANDED) -> IdentifiedContent:
    return identify(data, max_expansion_ratio=ratio, max_expanded_bytes=expanded)


def refused(data: bytes, **limits: int) -> str:
    with pytest.raises(ContentRefused) as caught:
        check(data, **limits)
    assert caught.value.code in REFUSAL_CODES
    assert caught.value.detail.endswith(".")
    return caught.value.code


# -- tiny real files ------------------------------------------------------------------------


def pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    # SOI, a JFIF APP0 segment, EOI: what identification reads is the start.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def webp() -> bytes:
    vp8l = b"\x2f\x00\x00\x00\x00\x07\x10\x11\x11\x88\x88\xfe\x07\x00"  # a 1x1 lossless image
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def zipped(entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, body) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name), body, compress_type=method)
    return buffer.getvalue()


def ooxml(main_type: str, main_part: str, *, extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/>'
        "</Types>"
    ).encode()
    return zipped(
        [
            ("[Content_Types].xml", content_types),
            ("_rels/.rels", b"<Relationships/>"),
            (main_part, b"<document>Warehouse CV</document>"),
            *extra,
        ]
    )


DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def docx() -> bytes:
    return ooxml(DOCX_MAIN, "word/document.xml")


def xlsx() -> bytes:
    return ooxml(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "xl/workbook.xml",
    )


def pptx() -> bytes:
    return ooxml(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        "ppt/presentation.xml",
    )


def odf(mimetype: str) -> bytes:
    return zipped(
        [("mimetype", mimetype.encode()), ("content.xml", b"<office:document-content/>")],
        stored_first=True,
    )


ALLOWED_FILES = {
    "pdf": (pdf, "application/pdf", True),
    "png": (png, "image/png", True),
    "jpg": (jpeg, "image/jpeg", True),
    "gif": (gif, "image/gif", True),
    "webp": (webp, "image/webp", True),
    "txt": (
        lambda: "Interview Tuesday 10:00 at the café\r\n\tbring CV\n".encode(),
        "text/plain",
        False,
    ),
    "docx": (docx, DOCX_MAIN.removesuffix(".main+xml"), False),
    "xlsx": (xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", False),
    "pptx": (
        pptx,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        False,
    ),
    "odt": (
        lambda: odf("application/vnd.oasis.opendocument.text"),
        "application/vnd.oasis.opendocument.text",
        False,
    ),
    "ods": (
        lambda: odf("application/vnd.oasis.opendocument.spreadsheet"),
        "application/vnd.oasis.opendocument.spreadsheet",
        False,
    ),
    "rtf": (
        lambda: rb"{\rtf1\ansi{\fonttbl\f0 Arial;}\f0 Dear employer,\par}",
        "application/rtf",
        False,
    ),
}


def test_every_allowed_kind_is_tested() -> None:
    assert {kind.extension for kind in ALLOWED} == set(ALLOWED_FILES)


@pytest.mark.parametrize("extension", sorted(ALLOWED_FILES))
def test_each_allowed_kind_is_recognised_by_its_bytes(extension: str) -> None:
    make, media_type, previewable = ALLOWED_FILES[extension]
    assert check(make()) == IdentifiedContent(media_type, extension, previewable)


# -- refused by content ---------------------------------------------------------------------


def test_an_empty_file_is_refused() -> None:
    assert refused(b"") == "empty-file"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200 + b"PE\x00\x00", id="windows-exe"
        ),
        pytest.param(b"\x7fELF\x02\x01\x01" + b"\x00" * 200, id="elf"),
        pytest.param(b"#!/bin/sh\x00\x01\x02" + bytes(range(256)), id="binary-junk"),
    ],
)
def test_an_executable_named_pdf_is_refused(data: bytes) -> None:
    # Only the bytes are given: the name "cv.pdf" plays no part in what the file is.
    assert refused(data) == "type-not-allowed"


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body>Hello</body></html>",
        b"\xef\xbb\xbf  <html><script>alert(1)</script></html>",
        b"Dear employer,\n<script>fetch('/api/v1/clients')</script>\n",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b'<?xml version="1.0"?><note/>',
    ],
    ids=["doctype", "bom-html", "script-in-text", "svg", "xml"],
)
def test_html_and_other_markup_is_refused(data: bytes) -> None:
    assert refused(data) == "type-not-allowed"


@pytest.mark.parametrize(
    "data",
    [b"not \xff utf-8", b"a NUL\x00 inside", b"a bell \x07 inside"],
    ids=["latin1", "nul", "control"],
)
def test_text_that_is_not_plain_utf8_is_refused(data: bytes) -> None:
    assert refused(data) == "type-not-allowed"


def test_a_plain_zip_and_a_macro_document_are_refused() -> None:
    assert refused(zipped([("notes.txt", b"hello")])) == "type-not-allowed"
    docm = ooxml("application/vnd.ms-word.document.macroEnabled.main+xml", "word/document.xml")
    assert refused(docm) == "type-not-allowed"
    smuggled = ooxml(DOCX_MAIN, "word/document.xml", extra=[("word/vbaProject.bin", b"\x00" * 64)])
    assert refused(smuggled) == "type-not-allowed"
    assert refused(odf("application/vnd.oasis.opendocument.graphics")) == "type-not-allowed"


def test_a_damaged_office_document_is_refused() -> None:
    good = docx()
    assert refused(good[: len(good) // 2]) == "type-not-allowed"


# -- zip bombs ------------------------------------------------------------------------------


def bomb(expanded: int) -> bytes:
    """A .docx whose one extra part is ``expanded`` zero bytes (deflate shrinks it ~1000x)."""
    return ooxml(
        DOCX_MAIN, "word/document.xml", extra=[("word/media/padding.bin", bytes(expanded))]
    )


def test_a_zip_bomb_within_the_size_limit_is_refused() -> None:
    data = bomb(4 * 1024 * 1024)
    assert len(data) < 16 * 1024  # tiny on the wire: a per-file size limit would let it through
    assert refused(data, ratio=RATIO, expanded=EXPANDED) == "archive-bomb"


def test_the_expansion_limits_hold_at_their_edge() -> None:
    data = bomb(200_000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        total = sum(entry.file_size for entry in archive.infolist())
    ratio_at_edge = -(-total // len(data))  # the smallest ratio that lets it through
    assert check(data, ratio=ratio_at_edge, expanded=total).extension == "docx"
    assert refused(data, ratio=ratio_at_edge - 1, expanded=total) == "archive-bomb"
    assert refused(data, ratio=ratio_at_edge, expanded=total - 1) == "archive-bomb"


def lie_about_sizes(data: bytes, name: bytes, declared: int) -> bytes:
    """Rewrite the uncompressed size of entry ``name`` in the local header and the central
    directory to ``declared``, as a hostile archive would."""
    out = bytearray(data)
    for signature, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        start = 0
        while (start := out.find(signature, start)) != -1:
            length = struct.unpack_from("<H", out, start + name_len_at)[0]
            if bytes(out[start + name_at : start + name_at + length]) == name:
                struct.pack_into("<I", out, start + size_at, declared)
            start += 4
    return bytes(out)


def test_a_bomb_that_declares_small_sizes_is_still_refused() -> None:
    # The central directory says 10 bytes; reading it would give 4 MB. The declared-size check
    # passes, and the bounded read (or zipfile's own length and checksum check) refuses it.
    data = lie_about_sizes(bomb(4 * 1024 * 1024), b"word/media/padding.bin", 10)
    assert refused(data) in {"archive-bomb", "type-not-allowed"}


def test_an_archive_of_too_many_entries_is_refused() -> None:
    many = [(f"word/part{i}.xml", b"") for i in range(MAX_ARCHIVE_ENTRIES)]
    assert refused(ooxml(DOCX_MAIN, "word/document.xml", extra=many)) == "archive-bomb"


# -- filenames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CV.pdf", "CV.pdf"),
        ("Cover letter - Greggs.docx", "Cover letter - Greggs.pdf"),  # the content decides
        ("../../etc/passwd", "passwd.pdf"),
        ("..\\..\\windows\\system32\\evil.exe", "evil.pdf"),
        ("/etc/shadow", "shadow.pdf"),
        ("C:\\Users\\alex\\cv.pdf", "cv.pdf"),
        ("..", "document.pdf"),
        ("", "document.pdf"),
        (".bashrc", "bashrc.pdf"),
        ("cv\x00.exe\n\r.pdf", "cv.exe.pdf"),
        ("cv\u202efdp.exe", "cvfdp.pdf"),  # a right-to-left override would show "cvexe.pdf"
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("   many    spaces   .pdf", "many spaces.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ("Référence café.pdf", "Référence café.pdf"),
    ],
)
def test_safe_filename(given: str, expected: str) -> None:
    assert safe_filename(given, "pdf") == expected


def test_a_long_name_is_cut_to_the_limit_keeping_the_extension() -> None:
    at_limit = "x" * (MAX_FILENAME_LENGTH - len(".docx")) + ".docx"
    assert safe_filename(at_limit, "docx") == at_limit
    over = "y" * 5000 + ".docx"
    cut = safe_filename(over, "docx")
    assert len(cut) == MAX_FILENAME_LENGTH
    assert cut.endswith("y.docx")


def test_the_extension_must_be_a_plain_word() -> None:
    with pytest.raises(ValueError):
        safe_filename("cv", "../pdf")
