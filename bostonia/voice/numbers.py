"""English words for numbers, money, percentages, times and dates, so speech reads them as people say them.

espeak-ng (piper's phonemizer) reads "1999" as "one thousand nine hundred ninety-nine", "$5.50" as
"dollar five point five zero" and "2024-03-05" digit by digit; these rewrite them before synthesis.
"""

from __future__ import annotations

import re

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MONTHS = "January February March April May June July August September October November December".split()
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
              "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "", "")}  # fmt: skip
LARGEST = 10**15  # beyond this, digits are read one by one (ids, phone numbers)


def cardinal(n: int) -> str:
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {cardinal(rest)}" if rest else "")
    for value, name in SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return f"{cardinal(high)} {name}" + (f" {cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def ordinal(n: int) -> str:
    words = cardinal(n)
    head, sep, last = words.rpartition(" ") if " " in words else ("", "", words)
    prefix, dash, tail = last.rpartition("-")
    if tail in ORDINAL_WORDS:
        tail = ORDINAL_WORDS[tail]
    elif tail.endswith("y"):
        tail = tail[:-1] + "ieth"
    else:
        tail += "th"
    return head + sep + prefix + dash + tail


def year(n: int) -> str:
    """1999 → nineteen ninety-nine, 2005 → two thousand five, 2024 → twenty twenty-four, 1900 → nineteen hundred."""
    if not 1100 <= n <= 2099 or 2000 <= n <= 2009:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + ONES[low] if low < 10 else cardinal(low)}"


def digits(text: str) -> str:
    return " ".join(ONES[int(d)] for d in text if d.isdigit())


def number(text: str) -> str:
    """A written number ("1,234", "3.14", "-2", "007") in words."""
    negative = text.startswith(("-", "−"))
    text = text.lstrip("-−").replace(",", "")
    whole, _, fraction = text.partition(".")
    if not whole:
        whole = "0"
    leading_zero = len(whole) > 1 and whole.startswith("0")  # 007, a code: digit by digit
    words = digits(whole) if leading_zero or int(whole) >= LARGEST else cardinal(int(whole))
    if fraction:
        words += " point " + digits(fraction)
    return ("minus " if negative else "") + words


def money(symbol: str, amount: str, scale: str = "") -> str:
    one, many, cent, cents = CURRENCIES[symbol]
    whole, _, fraction = amount.replace(",", "").partition(".")
    value = int(whole or "0")
    if scale:  # "$5.5 million"
        return f"{number(amount)} {scale} {many}"
    words = f"{cardinal(value)} {one if value == 1 else many}"
    if fraction and cent and int(fraction[:2].ljust(2, "0")):
        small = int(fraction[:2].ljust(2, "0"))
        words += f" and {cardinal(small)} {cent if small == 1 else cents}"
    elif fraction and not cent:
        words = f"{number(amount)} {many}"
    return words


def clock(hours: int, minutes: int, meridiem: str = "") -> str:
    if minutes == 0:
        spoken = cardinal(hours) + ("" if meridiem else " o'clock" if hours <= 12 else " hundred")
    elif minutes < 10:
        spoken = f"{cardinal(hours)} oh {ONES[minutes]}"
    else:
        spoken = f"{cardinal(hours)} {cardinal(minutes)}"
    if meridiem:
        spoken += " " + " ".join(meridiem.lower().replace(".", ""))
    return spoken


_SCALE_WORDS = r"(?:thousand|million|billion|trillion)"
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # 1,234,567 or 1234567 (a comma in "1, 2" separates)
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
MONTH_DAY = re.compile(rf"\b({'|'.join(MONTHS)}|{'|'.join(m[:3] for m in MONTHS)})\.? (\d{{1,2}})(?:st|nd|rd|th)?\b")
MONEY = re.compile(rf"([$€£¥])\s?({_DIGITS}(?:\.\d+)?)(?:\s({_SCALE_WORDS})\b)?")
PERCENT = re.compile(rf"(?<![\w.])(-?{_DIGITS}(?:\.\d+)?)\s?%")
TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s?([AaPp]\.?[Mm]\.?))?(?![\d:])")
ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
YEAR_CONTEXT = re.compile(r"\b(in|since|until|by|from|of|year|circa|around|c\.)\s+(1[1-9]\d\d|20\d\d)\b", re.IGNORECASE)
DECADE = re.compile(r"\b(1[1-9]|20)(\d)0s\b")
RANGE = re.compile(rf"(?<![\w.,-])({_DIGITS})\s?[-–]({_DIGITS})(?![\w.]|,\d)")  # 3-5 → "3 to 5"
NUMBER = re.compile(rf"(?<![\w.])[-−]?{_DIGITS}(?:\.\d+)?(?!\w|,\d)|(?<![\w.])[-−]?\.\d+(?!\w)")


def _month_day(match: re.Match[str]) -> str:
    name = next(m for m in MONTHS if m.startswith(match.group(1)[:3]))
    return f"{name} {ordinal(int(match.group(2)))}"


def _iso_date(match: re.Match[str]) -> str:
    y, m, d = (int(part) for part in match.groups())
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return match.group(0)
    return f"{MONTHS[m - 1]} {ordinal(d)}, {year(y)}"


def _time(match: re.Match[str]) -> str:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        return match.group(0)
    return clock(hours, minutes, match.group(3) or "")


def _decade(match: re.Match[str]) -> str:
    spoken = year(int(match.group(1) + match.group(2) + "0"))
    if spoken.endswith("hundred"):
        return spoken + "s"
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


def _plain(match: re.Match[str]) -> str:
    text = match.group(0)
    # A bare four-digit number between 1100 and 2099 with no separators is most often a year.
    if re.fullmatch(r"1[1-9]\d\d|20\d\d", text):
        return year(int(text))
    return number(text)


def read_numbers(text: str) -> str:
    """Rewrite numbers and the forms built on them as words (English)."""
    text = ISO_DATE.sub(_iso_date, text)
    text = MONTH_DAY.sub(_month_day, text)
    text = MONEY.sub(lambda m: money(m.group(1), m.group(2), m.group(3) or ""), text)
    text = PERCENT.sub(lambda m: number(m.group(1)) + " percent", text)
    text = TIME.sub(_time, text)
    text = DECADE.sub(_decade, text)
    text = ORDINAL.sub(lambda m: ordinal(int(m.group(1))), text)
    text = YEAR_CONTEXT.sub(lambda m: f"{m.group(1)} {year(int(m.group(2)))}", text)
    text = RANGE.sub(lambda m: f"{m.group(1)} to {m.group(2)}", text)
    return NUMBER.sub(_plain, text)
