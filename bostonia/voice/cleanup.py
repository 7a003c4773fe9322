"""What a reply says out loud: markdown markup, emoji and addresses taken out, numbers in words.

Runs on one segment at a time (a sentence cut by `sentences.SentenceCutter`, which already removed code
blocks and, when asked, the *actions* of roleplay), so every rule here is local to a line.
"""

from __future__ import annotations

import re
import unicodedata

from bostonia.voice.numbers import read_numbers

IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']+[^\s<>()\"'.,;:!?]", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
INLINE_CODE = re.compile(r"`+([^`]*)`+")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+", re.MULTILINE)
QUOTE_MARK = re.compile(r"^\s*>+\s?", re.MULTILINE)
RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$", re.MULTILINE)
EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~)(?=\S)(.+?)(?<=\S)\1")
TABLE_PIPE = re.compile(r"\s*\|\s*")
STRAY_MARKUP = re.compile(r"[*_`#~|<>\[\]{}^\\]+")
SPACES = re.compile(r"\s+")
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[,.!?;:])")
# Pictographs, symbols, flags and the joiners and selectors that build emoji sequences.
EMOJI_EXTRA = re.compile("[\u200d\ufe0e\ufe0f\u20e3\U0001f1e6-\U0001f1ff\U0001f3fb-\U0001f3ff]")
SYMBOL_WORDS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "°": " degrees "}
SYMBOLS = re.compile(r"(?<=\s)[&+=@](?=\s)|°")


def _link_text(match: re.Match[str]) -> str:
    text = match.group(0)
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", text, flags=re.IGNORECASE).split("/")[0]
    host = host.split(":")[0]
    return f"a link to {host.replace('.', ' dot ')}" if host else "a link"


def _strip_emoji(text: str) -> str:
    text = EMOJI_EXTRA.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "So")


def strip_markdown(text: str) -> str:
    text = IMAGE.sub(lambda m: m.group(1), text)
    text = LINK.sub(lambda m: m.group(1), text)
    text = URL.sub(_link_text, text)
    text = EMAIL.sub("an email address", text)
    text = HTML_TAG.sub(" ", text)
    text = INLINE_CODE.sub(lambda m: m.group(1), text)
    text = RULE.sub(" ", text)
    text = HEADING.sub("", text)
    text = QUOTE_MARK.sub("", text)
    text = LIST_MARK.sub("", text)
    for _ in range(2):  # ***bold italic*** and nesting
        text = EMPHASIS.sub(lambda m: m.group(2), text)
    if text.count("|") >= 2:
        text = TABLE_PIPE.sub(", ", text).strip(", ")
    return text


def speakable(text: str) -> str:
    """The words of `text` for a speech engine: one line, no markup, numbers in words ('' if none)."""
    text = unicodedata.normalize("NFKC", text)
    text = strip_markdown(text)
    text = _strip_emoji(text)
    text = SYMBOLS.sub(lambda m: SYMBOL_WORDS[m.group(0)], text)
    text = read_numbers(text)
    text = STRAY_MARKUP.sub(" ", text)
    text = SPACE_BEFORE_PUNCTUATION.sub("", SPACES.sub(" ", text)).strip()
    return text if any(ch.isalnum() for ch in text) else ""
