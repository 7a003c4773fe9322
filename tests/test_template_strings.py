"""Every user-visible string of a template goes through `_()` / `ngettext` (bostonia/ui/i18n.py).

The scan strips Jinja (expressions, statements, comments), scripts and tags from each template and reports
any English left in text nodes or in the attributes a person reads (placeholder, title, aria-label, alt,
confirmation questions), and any capitalised string literal of a Jinja expression outside `_()` ("New chat" if
... else "Archived"). Brand names and units are allowed. Templates not yet swept are listed in
`NOT_YET_SWEPT`: the test fails when a swept one regresses, and when one on the list becomes clean (so
the list only shrinks)."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import Environment, FileSystemLoader

from bostonia.ui import i18n
from bostonia.ui.assets import TEMPLATES_DIR

CLASS_BLOCK = re.compile(r"\{%\s*block (?:main_class|body_class)\s*%\}.*?\{%\s*endblock\s*%\}", re.S)
# An expression ends at the first }} outside its string literals (a hint may mention {{char}}).
STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
JINJA = re.compile(rf"""\{{\{{(?:{STRING}|[^"'])*?\}}\}}|\{{%(?:{STRING}|[^"'])*?%\}}|\{{#.*?#\}}""", re.S)
SCRIPT = re.compile(r"<(script|style|code)\b.*?</\1>", re.S | re.I)  # code (commands, names) is not translated
READ_ATTRIBUTE = re.compile(r'\b(?:placeholder|title|aria-label|alt|data-confirm|hx-confirm)="([^"]*)"')
TAG = re.compile(r"<[^>]*>", re.S)
WORD = re.compile(r"[A-Za-z]{2,}")
ALLOWED = {"Bostonia", "SillyTavern", "PNG", "JSON", "CharX", "V2", "V3", "MB", "KB", "ms", "UTC", "OOC"}

NOT_YET_SWEPT: set[str] = set()


def bare_english(template: Path) -> list[str]:
    source = SCRIPT.sub(" ", CLASS_BLOCK.sub(" ", template.read_text()))
    readable = [value for value in READ_ATTRIBUTE.findall(source)]
    text = TAG.sub("\n", JINJA.sub(" ", source))
    found = []
    for chunk in [*readable, *text.split("\n")]:
        chunk = JINJA.sub(" ", chunk).strip()
        words = [w for w in WORD.findall(chunk) if w not in ALLOWED]
        if words:
            found.append(chunk)
    return found


LITERAL = re.compile(STRING)
TRANSLATED = re.compile(rf"\b(?:_|gettext|ngettext)\(\s*(?:(?:{STRING})\s*,?\s*)+")
CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")


def english_literals(template: Path) -> list[str]:
    """String literals in Jinja expressions that read like English ("New chat" if ... else "Archived")
    and are not the message of a `_()`/`ngettext` call: a capitalised word outside the allowed names."""
    found = []
    for expression in re.findall(
        rf"\{{\{{(?:{STRING}|[^\"'])*?\}}\}}|\{{%(?:{STRING}|[^\"'])*?%\}}", template.read_text()
    ):
        if re.match(r"\{%-?\s*(?:extends|include|from|import)\b", expression):
            continue
        for literal in LITERAL.findall(TRANSLATED.sub(" ", expression)):
            if any(word not in ALLOWED for word in CAPITALISED.findall(literal)):
                found.append(literal)
    return found


TEMPLATES = sorted(TEMPLATES_DIR.glob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_user_visible_text_is_translatable(template: Path) -> None:
    found = bare_english(template)
    if template.name in NOT_YET_SWEPT:
        assert found, f"{template.name} is clean now: take it off NOT_YET_SWEPT"
    else:
        assert not found, f"{template.name} has text outside _(): {found[:5]}"
    literals = english_literals(template)
    assert not literals, f"{template.name} shows string literals outside _(): {literals[:5]}"


def test_the_scan_finds_bare_text(tmp_path: Path) -> None:
    """The scanner itself: bare text and a bare placeholder are found, translated ones are not."""
    sample = tmp_path / "sample.html"
    sample.write_text('<p>Hello there</p><input placeholder="Your name"><p>{{ _("Fine") }}</p><b>Bostonia</b>')
    assert bare_english(sample) == ["Your name", "Hello there"]
    sample.write_text('{{ "Archived chats" if archived else _("My chats") }}{% set href = "/?tab=" ~ tab %}')
    assert english_literals(sample) == ['"Archived chats"']


IMPORT = re.compile(r'\{%-?\s*from\s+"([^"]+)"\s+import\s+([^%]*?)\s*-?%\}')


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_imported_macros_translate_for_the_viewer(template: Path) -> None:
    """A macro imported without context sees only the globals, so its `_()` cannot know the signed-in
    user's language: every import of a template that translates says `with context`."""
    for source, names in IMPORT.findall(template.read_text()):
        if "_(" in (TEMPLATES_DIR / source).read_text() or "ngettext(" in (TEMPLATES_DIR / source).read_text():
            assert names.endswith("with context"), f"{template.name} imports {source} without context"


class Shouting(gettext.NullTranslations):
    """A stand-in catalogue (only English ships): every message in capitals."""

    def gettext(self, message: str) -> str:
        return message.upper()

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return (singular if n == 1 else plural).upper()


@pytest.fixture
def shouting_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "supported", lambda language: "xx" if language == "xx" else None)
    monkeypatch.setattr(
        i18n, "translations", lambda language: Shouting() if language == "xx" else gettext.NullTranslations()
    )


def test_macros_translate_into_the_viewers_language(shouting_language: None) -> None:
    """Through a page that imports them, and when Python renders them for a viewer (the chat stream)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    i18n.install(env)
    viewer = SimpleNamespace(language="xx")
    page = env.from_string(
        '{% from "_report.html" import report_form with context %}{{ report_form("message", "m1") }}'
    )
    assert "REPORT THIS MESSAGE" in page.render(user=viewer)
    assert "Report this message" in page.render(user=SimpleNamespace(language="en"))
    fragment = str(env.get_template("_report.html").make_module({"user": viewer}).report_form("character", "c1"))
    assert "REPORT THIS CHARACTER" in fragment
