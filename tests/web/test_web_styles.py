"""The web client's stylesheet is well formed: every block closes, and no style rule holds another.

A rule left unclosed (as two merges once left ``web/styles.css``) is no syntax error to a browser:
with CSS nesting, every rule after it becomes a nested rule that matches nothing, so the header,
the meeting room and the sign-in page silently lost their layout. The stylesheet uses no nesting,
so a block opening inside a style rule is that mistake, named here by the rule left open.
"""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

STYLESHEETS = sorted((REPO_ROOT / "web").glob("*.css"))
# Comments and strings can hold braces that are not blocks; blanked, keeping the line count.
COMMENT_OR_STRING = re.compile(r"/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


def blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group())


def block_problems(css: str) -> list[str]:
    """Where the blocks of a stylesheet go wrong: a block inside a style rule, a close with no
    open, a block never closed. Each names its line and the rule's head."""
    text = COMMENT_OR_STRING.sub(blank, css)
    problems: list[str] = []
    open_blocks: list[tuple[int, str]] = []  # (line, head) of each open block
    head_start = 0
    for index, char in enumerate(text):
        if char not in "{}":
            if char == ";":
                head_start = index + 1
            continue
        line = text.count("\n", 0, index) + 1
        if char == "{":
            head = " ".join(text[head_start:index].split())
            inside = open_blocks[-1] if open_blocks else None
            if inside is not None and not inside[1].startswith("@"):
                problems.append(
                    f"line {line}: {head!r} opens inside the rule {inside[1]!r} of line "
                    f"{inside[0]}, left unclosed"
                )
            open_blocks.append((line, head))
        elif open_blocks:
            open_blocks.pop()
        else:
            problems.append(f"line {line}: a closing brace with no block open")
        head_start = index + 1
    problems.extend(f"line {line}: {head!r} is never closed" for line, head in open_blocks)
    return problems


def test_the_web_client_has_stylesheets() -> None:
    assert REPO_ROOT / "web" / "styles.css" in STYLESHEETS


def test_every_block_of_every_stylesheet_closes_and_no_rule_holds_another() -> None:
    for sheet in STYLESHEETS:
        problems = block_problems(sheet.read_text(encoding="utf-8"))
        assert not problems, f"{sheet.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)


def test_an_unclosed_rule_is_found_and_named() -> None:
    css = (
        ".a {\n  color: red;\n\n/* b } */\n.b {\n  content: '}';\n}\n"
        "@media (min-width: 64em) {\n  .c { color: blue; }\n}\n"
    )
    assert block_problems(css) == [
        "line 5: '.b' opens inside the rule '.a' of line 1, left unclosed",
        "line 8: '@media (min-width: 64em)' opens inside the rule '.a' of line 1, left unclosed",
        "line 1: '.a' is never closed",
    ]
    assert block_problems(".a { color: red; }\n@media print {\n  .a { color: black; }\n}\n") == []
