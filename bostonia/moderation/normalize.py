"""Undo the tricks people use to slip words past a filter, so the rules see what a reader sees.

`normalize` turns "F.U.C.K", "f u c k", "h4te", "k\u200bill" (zero-width characters) or "kіll" (a Cyrillic
і) into plain lower-case words. Repeated letters ("fuuuuck") are left alone here: the word lists compile
each letter as "one or more" (see `rules.term_pattern`), which keeps "ass" from matching "as".
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and formatting characters that render as nothing (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft
# hyphen, Mongolian vowel separator) and the bidirectional controls.
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Letters from other scripts that look like Latin ones (Cyrillic, Greek), as NFKC leaves them alone.
HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "с": "c", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
        "м": "m", "н": "h", "о": "o", "р": "p", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԁ": "d", "ɡ": "g",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ω": "w", "ѵ": "v", "ԛ": "q", "ԝ": "w",
    }
)  # fmt: skip
# Digits and symbols standing for letters, decoded only inside words that also have letters ("h4te",
# "$lut"), never in numbers ("2024", "$5").
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
LEET_CHARS = "0134579@$!|"
WORD = re.compile(r"[a-z0-9@$!|]+(?:['’][a-z]+)?")
# Three or more single characters separated by spaces or punctuation: "f u c k", "s.e.x", "k-i-l-l".
SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9@$][\s.\-_*+~]{1,3}){2,}[a-z0-9@$](?![a-z0-9])")
SEPARATOR = re.compile(r"[\s.\-_*+~]+")
# Symbols masking a letter inside a word: "f*ck", "c#nt" ("sh!t" is leetspeak, "b-i-t-c-h" spacing).
INNER_MASK = re.compile(r"[a-z]+(?:[*#]+[a-z]+)+")
# Words people mask a letter of, by their letters left ("f*ck" -> "fck" -> "fuck"); an unknown masked word
# just loses its mask, and the word lists also match strong words without their first vowel.
MASKED = {
    "fck": "fuck", "fk": "fuck", "sht": "shit", "cnt": "cunt", "btch": "bitch", "bich": "bitch", "stpid": "stupid",
    "ngger": "nigger", "nggr": "nigger", "fggot": "faggot", "fagot": "faggot", "whre": "whore", "slt": "slut",
    "dck": "dick", "pssy": "pussy", "cck": "cock", "kll": "kill", "rpe": "rape", "rtard": "retard",
    "retrd": "retard", "idot": "idiot", "mron": "moron", "asshle": "asshole", "fcking": "fucking",
    "fkin": "fucking", "fckin": "fucking", "shtty": "shitty", "cm": "cum", "px": "pussy",
}  # fmt: skip


def _decode_leet(match: re.Match[str]) -> str:
    word = match.group(0)
    if not any(c.isalpha() for c in word) or not any(c in LEET_CHARS for c in word):
        return word
    # "!" and "|" that end a word are punctuation ("kill!"), not letters.
    stem = word.rstrip("!|")
    return stem.translate(LEET) + word[len(stem) :]


def _unmask(match: re.Match[str]) -> str:
    bare = re.sub(r"[*#]+", "", match.group(0))
    return MASKED.get(bare, bare)


def _join_spaced(match: re.Match[str]) -> str:
    return " " + SEPARATOR.sub("", match.group(0)) + " "


def normalize(text: str) -> str:
    """Lower case, invisible characters and accents removed, look-alikes and leetspeak decoded, spaced-out
    letters joined."""
    text = INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text).lower().translate(HOMOGLYPHS)
    # Strip accents ("fück" -> "fuck") after NFKC has composed what it can.
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.replace("’", "'")
    text = SPACED.sub(_join_spaced, text)
    text = INNER_MASK.sub(_unmask, text)
    text = WORD.sub(_decode_leet, text)
    return re.sub(r"\s+", " ", text).strip()
