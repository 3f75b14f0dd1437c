"""What a document is, decided by its bytes, and the name it is kept under.

A file is accepted only as one of the allowed kinds (``ALLOWED``), recognised from its content:
the name a person gave it and the type their browser declared are never trusted, since either
can lie (an executable renamed ``cv.pdf``, a page of HTML sent as ``text/plain``). The binary
formats are recognised by their magic bytes with ``puremagic``; the zip-based office formats
(OOXML, OpenDocument) by their declared part types, after checking the archive cannot expand into
more than the service is willing to read (a "zip bomb"): first from the sizes its central
directory declares, then by a bounded streaming read, because declared sizes can lie.

Nothing here keeps or logs any of the content: a refusal says what kind of problem it was in a
sentence for the person, never what the file held.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

import puremagic

__all__ = [
    "ALLOWED",
    "MAX_ARCHIVE_ENTRIES",
    "MAX_FILENAME_LENGTH",
    "REFUSAL_CODES",
    "ContentRefused",
    "IdentifiedContent",
    "identify",
    "safe_filename",
]


@dataclass(frozen=True)
class IdentifiedContent:
    media_type: str  # e.g. "application/pdf", "image/png"
    extension: str  # the canonical extension for that type, e.g. "pdf"
    previewable: bool  # PDFs and raster images are shown in the browser; others download


class ContentRefused(Exception):
    """A file that is not accepted: ``code`` for programs, ``detail`` for the person."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# Every code ContentRefused is raised with (the API documents each).
EMPTY_FILE = "empty-file"
TYPE_NOT_ALLOWED = "type-not-allowed"
ARCHIVE_BOMB = "archive-bomb"
REFUSAL_CODES = (EMPTY_FILE, TYPE_NOT_ALLOWED, ARCHIVE_BOMB)

PDF = IdentifiedContent("application/pdf", "pdf", True)
PNG = IdentifiedContent("image/png", "png", True)
JPEG = IdentifiedContent("image/jpeg", "jpg", True)
GIF = IdentifiedContent("image/gif", "gif", True)
WEBP = IdentifiedContent("image/webp", "webp", True)
RTF = IdentifiedContent("application/rtf", "rtf", False)
TEXT = IdentifiedContent("text/plain", "txt", False)
DOCX = IdentifiedContent(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", False
)
XLSX = IdentifiedContent(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", False
)
PPTX = IdentifiedContent(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", False
)
ODT = IdentifiedContent("application/vnd.oasis.opendocument.text", "odt", False)
ODS = IdentifiedContent("application/vnd.oasis.opendocument.spreadsheet", "ods", False)

ALLOWED: tuple[IdentifiedContent, ...] = (
    PDF,
    PNG,
    JPEG,
    GIF,
    WEBP,
    TEXT,
    DOCX,
    XLSX,
    PPTX,
    ODT,
    ODS,
    RTF,
)

# The binary formats puremagic recognises, by the media type it reports.
_BY_MAGIC = {kind.media_type: kind for kind in (PDF, PNG, JPEG, GIF, WEBP, RTF)}

# An OOXML package is the kind its main part's content type says. The macro-enabled variants
# (.docm, .xlsm, .pptm) have other main types and so are not allowed.
_OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
}
_ODF_MIMETYPES = {ODT.media_type: ODT, ODS.media_type: ODS}

_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_CONTENT_TYPES = "[Content_Types].xml"
# [Content_Types].xml is a short list of part types; a bigger one is not an office document.
_CONTENT_TYPES_MAX_BYTES = 1 << 20
_CONTENT_TYPE_ATTRIBUTE = re.compile(r"""ContentType\s*=\s*["']([^"']+)["']""")
# A macro project carried inside an otherwise plain package: refused rather than passed on.
_MACRO_PART = "vbaproject.bin"
# Entries are decompressed this much at a time when counting what an archive expands to.
_READ_CHUNK = 64 * 1024
# An office document has tens to a few hundred parts; a huge count is an attack on the reader.
MAX_ARCHIVE_ENTRIES = 10_000

# Text that a browser would render as a page or a picture: refused, since plain text is served
# as such and markup has no place in a document for a person.
_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<", re.ASCII)
_MARKUP_TAGS = re.compile(rb"<\s*(script|html|body|iframe|svg|object|embed)\b", re.IGNORECASE)
# Plain text is UTF-8 with no control characters (C0, DEL, C1) other than tab, line feed, form
# feed and carriage return. A regular expression, not a loop over characters: a 20 MB text is
# checked in milliseconds.
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _refuse_type(detail: str = "This kind of file cannot be shared here.") -> ContentRefused:
    return ContentRefused(TYPE_NOT_ALLOWED, detail)


def identify(
    data: bytes, *, max_expansion_ratio: int, max_expanded_bytes: int
) -> IdentifiedContent:
    """The allowed kind ``data`` is, or ContentRefused. Zip-based files are refused as
    ``archive-bomb`` when they would expand past ``max_expanded_bytes`` or more than
    ``max_expansion_ratio`` times their own size."""
    if not data:
        raise ContentRefused(EMPTY_FILE, "The file is empty.")
    if data.startswith(_ZIP_LOCAL_HEADER):
        return _identify_archive(
            data, max_expansion_ratio=max_expansion_ratio, max_expanded_bytes=max_expanded_bytes
        )
    magic = _by_magic(data)
    if magic is not None:
        return magic
    if _is_plain_text(data):
        return TEXT
    raise _refuse_type()


def _by_magic(data: bytes) -> IdentifiedContent | None:
    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:  # nothing it knows: perhaps plain text
        return None
    # Highest confidence first; any allowed binary kind among the matches wins. A file matching
    # both an allowed kind and markup (HTML) is refused: it would be a page to some readers.
    if any(match.mime_type == "text/html" for match in matches):
        raise _refuse_type()
    for match in sorted(matches, key=lambda m: m.confidence, reverse=True):
        kind = _BY_MAGIC.get(match.mime_type)
        if kind is not None:
            return kind
    return None


def _is_plain_text(data: bytes) -> bool:
    if _MARKUP_START.match(data) or _MARKUP_TAGS.search(data):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _TEXT_CONTROL.search(text) is None


def _identify_archive(
    data: bytes, *, max_expansion_ratio: int, max_expanded_bytes: int
) -> IdentifiedContent:
    # What the archive may expand to: the smaller of the absolute cap and the ratio's.
    limit = min(max_expanded_bytes, max_expansion_ratio * len(data))
    bomb = ContentRefused(ARCHIVE_BOMB, "The file expands to far more than its size when opened.")
    unreadable = _refuse_type("The file could not be read as an office document.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ARCHIVE_ENTRIES:
                raise bomb
            # First what the central directory declares: cheap, and refuses the honest bombs
            # without decompressing a byte.
            if sum(entry.file_size for entry in entries) > limit:
                raise bomb
            if any(entry.flag_bits & 0x1 for entry in entries):  # encrypted: cannot be checked
                raise unreadable
            if any(entry.filename.lower().endswith(_MACRO_PART) for entry in entries):
                raise _refuse_type("Documents with macros cannot be shared here.")
            kind = _archive_kind(archive, entries)
            # Then what it really expands to, counted chunk by chunk and stopped past the limit:
            # the declared sizes are the sender's word.
            expanded = 0
            for entry in entries:
                with archive.open(entry) as member:
                    while chunk := member.read(_READ_CHUNK):
                        expanded += len(chunk)
                        if expanded > limit:
                            raise bomb
            return kind
    except ContentRefused:
        raise
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, ValueError, OSError):
        # Damaged, lying about a size or a checksum, or compressed in a way zipfile cannot read.
        raise unreadable from None


def _archive_kind(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> IdentifiedContent:
    """OOXML by its main part's content type; OpenDocument by its leading ``mimetype`` entry."""
    names = {entry.filename: entry for entry in entries}
    first = entries[0] if entries else None
    if first is not None and first.filename == "mimetype":
        # The OpenDocument rule: the first entry, stored uncompressed, names the type.
        if first.file_size > 200:
            raise _refuse_type()
        mimetype = archive.read(first).decode("ascii", errors="replace").strip()
        kind = _ODF_MIMETYPES.get(mimetype)
        if kind is None:
            raise _refuse_type()
        return kind
    content_types = names.get(_CONTENT_TYPES)
    if content_types is None or content_types.file_size > _CONTENT_TYPES_MAX_BYTES:
        raise _refuse_type()
    text = archive.read(content_types).decode("utf-8", errors="replace")
    found = {
        _OOXML_MAIN_PARTS[value]
        for value in _CONTENT_TYPE_ATTRIBUTE.findall(text)
        if value in _OOXML_MAIN_PARTS
    }
    if len(found) != 1:  # none, or a package claiming to be two kinds at once
        raise _refuse_type()
    return found.pop()


# The longest name a document is given, extension included: short enough for every file system
# and a Content-Disposition header, long enough for "Cover letter - Greggs kitchen team.docx".
MAX_FILENAME_LENGTH = 120
_FALLBACK_STEM = "document"
# Characters that mean something to a file system or a shell on some platform.
_RESERVED = re.compile(r'[<>:"/\\|?*]')
_WHITESPACE = re.compile(r"\s+")
# The last suffix of the given name, if it looks like an extension: replaced by the content's
# (not a leading dot: ".bashrc" is a name without one).
_GIVEN_EXTENSION = re.compile(r"(?<=.)\.[A-Za-z0-9]{1,8}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


def safe_filename(name: str, extension: str) -> str:
    """A name safe to store and to offer for download: the last path part of ``name`` only,
    without control or invisible formatting characters (a right-to-left override can make
    ``cv‮fdp.exe`` read as ``cvexe.pdf``), at most ``MAX_FILENAME_LENGTH`` characters, ending in
    ``extension`` (the content's, whatever the given name ended in)."""
    if not _EXTENSION.match(extension):
        raise ValueError("extension must be 1-8 lowercase letters or digits")
    # Both separators, whatever the uploader's platform: only the final part is a name.
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    # Cc: control characters; Cf: invisible formatting (bidi overrides, zero-width joiners).
    # Co, Cs, Cn: private, surrogate and unassigned code points, which no one can read.
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _RESERVED.sub("_", base)
    base = _WHITESPACE.sub(" ", base).strip()
    base = _GIVEN_EXTENSION.sub("", base)
    # No leading dot (a hidden file, or "..") and no trailing dots or spaces (Windows drops them).
    stem = base.strip(" .")
    if stem.lower() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    if not stem:
        stem = _FALLBACK_STEM
    stem = stem[: MAX_FILENAME_LENGTH - len(extension) - 1].rstrip(" .") or _FALLBACK_STEM
    return f"{stem}.{extension}"
