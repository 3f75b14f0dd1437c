"""Types shared by the request schemas of every domain.

``Name`` is for the text that names someone or something (a person, a client, a team, an
organisation, an employer): one line of printable text. A NUL or another control character in a
name is never meant: on PostgreSQL a NUL fails the statement, and elsewhere control characters
break the lines of emails, calendar invitations, exports and the audit trail that carry names,
or hide what a name really says (a right-to-left override shows "gpj.exe" as "exe.jpg"). Such a
name is refused as invalid (422, naming the field), never cleaned up quietly.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Final

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Besides the control characters (Unicode category Cc: C0, DEL and C1), the characters that
# break a line or reorder how the text around them is shown.
LINE_AND_DIRECTION_CONTROLS: Final = frozenset(
    "\u2028\u2029"  # line and paragraph separators
    "\u200e\u200f\u061c"  # direction marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)


def _control_character(value: str) -> str | None:
    for character in value:
        if unicodedata.category(character) == "Cc" or character in LINE_AND_DIRECTION_CONTROLS:
            return character
    return None


def no_control_characters(value: str) -> str:
    found = _control_character(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters (found U+{ord(found):04X}); "
            "a name is one line of printable text"
        )
    return value


# The same rule as a regular expression, for the OpenAPI document (Unicode's Cc is exactly
# U+0000-U+001F and U+007F-U+009F).
NAME_PATTERN: Final = (
    r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]*$"
)


class _Documented:
    """Puts ``NAME_PATTERN`` in the field's JSON schema, beside its lengths."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        schema["pattern"] = NAME_PATTERN
        return schema


Name = Annotated[str, AfterValidator(no_control_characters), _Documented()]
"""One line of printable text naming someone or something; give its lengths with ``Field``."""
