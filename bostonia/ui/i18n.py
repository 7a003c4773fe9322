"""Translation of the web UI: every user-facing string of the templates goes through `_()` (or `ngettext`
for counts), looked up in the signed-in user's language (their `language` preference).

Catalogs are GNU gettext files, `locales/<language>/LC_MESSAGES/bostonia.mo`; English is the source
language and ships as the strings themselves. A language preference names one of `available_languages()`
— anything else is refused with a clear error rather than silently ignored.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import pass_context

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
SOURCE_LANGUAGE = "en"
DOMAIN = "bostonia"


@cache
def available_languages() -> tuple[str, ...]:
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


def supported(language: str) -> str | None:
    """The available language a preference means (`en-GB` → `en`), or None."""
    language = language.strip().replace("_", "-")
    for candidate in (language, language.split("-")[0]):
        for code in available_languages():
            if code.lower() == candidate.lower():
                return code
    return None


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _language(context: Any) -> str:
    user = context.get("user")
    return supported(getattr(user, "language", "") or "") or SOURCE_LANGUAGE


@pass_context
def translate(context: Any, message: str, **variables: Any) -> str:
    """`{{ _("Hello, %(name)s", name=user.display_name) }}` in templates."""
    text = translations(_language(context)).gettext(message)
    return text % variables if variables else text


@pass_context
def translate_plural(context: Any, singular: str, plural: str, count: int, **variables: Any) -> str:
    """`{{ ngettext("%(num)d chat", "%(num)d chats", n) }}`: the count is `num` in the strings."""
    text = translations(_language(context)).ngettext(singular, plural, count)
    return text % {"num": count, **variables}


def install(env: Any) -> None:
    """Give a Jinja environment `_`, `gettext` and `ngettext` (autoescaping applies to their results)."""
    env.globals.update(_=translate, gettext=translate, ngettext=translate_plural)
