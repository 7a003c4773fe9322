"""Cutting a reply into sentences while it is still being written, so each can be spoken as soon as it ends.

piper phonemizes all the text it is given before it speaks a word, so the stream is cut here, piece by
piece: a sentence ends at `.`, `!`, `?` or `…` (after any closing quotes) followed by white space — the
next piece has to show that space, which is why "Dr." or "3." at the end of a piece waits for more — or
at a line break. Code blocks and a reasoning model's `<think>` blocks are never spoken; with
`skip_actions` neither are roleplay *actions* (single asterisks); a sentence longer than `max_chars` is
cut at a comma or a space.

The cutter re-reads the text after the last cut on every piece (it is short: one sentence), which keeps
every decision — is this `*` an action or bold, is this `.` an abbreviation — a look at whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

TERMINATORS = ".!?…"
CLOSERS = "\"'”’»)]"
FENCES = ("```", "~~~")
# Abbreviations after which a full stop does not end a sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr prof sr jr st mt vs etc e.g i.e cf approx dept fig no vol ca gen col lt sgt capt".split()
)
SOFT_BREAKS = (", ", "; ", ": ", " — ", " – ", " - ")
QUICK_START_CHARS = 20


# A reasoning model's thinking (`bostonia.prompt.reasoning`) is never spoken; its tags may arrive split.
THOUGHT_OPEN = re.compile(r"<(think|thinking|reasoning)\b[^>]*>", re.IGNORECASE)
THOUGHT_CLOSE = re.compile(r"</(think|thinking|reasoning)\s*>", re.IGNORECASE)
THOUGHT_TAGS = ("think", "thinking", "reasoning")
MAX_TAG_CHARS = 64
LONGEST_CLOSE = len("</reasoning >")


def _may_open_thought(rest: str) -> bool:
    """Whether `rest` (from a "<" to the end of the text so far) could still become a thought's opening tag."""
    if ">" in rest or len(rest) > MAX_TAG_CHARS:
        return False
    word = rest[1:].lower()
    return any(tag.startswith(word) or word.startswith(tag) for tag in THOUGHT_TAGS)


@dataclass
class _State:
    in_fence: bool = False
    in_action: bool = False
    in_thought: bool = False


class SentenceCutter:
    def __init__(self, *, skip_actions: bool = False, max_chars: int = 240, quick_start: bool = False) -> None:
        self.skip_actions = skip_actions
        self.max_chars = max(max_chars, 20)
        # Cut the first sentence at its first comma (past QUICK_START_CHARS): time to first audio follows the
        # length of what is synthesised first, and a clause sounds as natural as a sentence.
        self.quick_start = quick_start
        self._emitted = 0
        self._pending = ""  # raw text after the last cut
        self._state = _State()  # the state at the start of `_pending`

    def feed(self, piece: str) -> list[str]:
        """The sentences that `piece` completed (raw text: markdown and numbers are cleaned later)."""
        self._pending += piece
        return self._scan(final=False)

    def finish(self) -> list[str]:
        """Whatever is left, once the reply is complete."""
        segments = self._scan(final=True)
        self._pending = ""
        self._state = _State()
        self._emitted = 0
        return segments

    # -- the scanner -------------------------------------------------------------------------------

    def _scan(self, *, final: bool) -> list[str]:
        text = self._pending
        state = replace(self._state)
        segments: list[str] = []
        current: list[str] = []  # the speakable characters of the sentence being read
        positions: list[int] = []  # the index in `text` of each of them
        cut_at, cut_state = 0, replace(state)

        def cut(end: int, upto: int | None = None) -> None:
            """End a sentence: the first `upto` characters of `current` (all by default); resume at `end`."""
            nonlocal current, positions, cut_at, cut_state
            count = len(current) if upto is None else upto
            sentence = "".join(current[:count]).strip()
            if sentence:
                segments.append(sentence)
            current, positions = current[count:], positions[count:]
            cut_at = positions[0] if positions else end
            cut_state = replace(state)

        i = 0
        while i < len(text):
            fence = next((f for f in FENCES if text.startswith(f, i)), None)
            if fence and (i == 0 or text[i - 1] == "\n" or not "".join(current).strip() or state.in_fence):
                cut(i)
                state.in_fence = not state.in_fence
                end = text.find("\n", i)  # the fence's info string ("```python") is not spoken either
                if end < 0:
                    if not final:
                        break
                    end = len(text)
                i = end + 1
                cut(i)
                continue
            if state.in_fence:
                i += 1
                continue
            if state.in_thought:
                closing = THOUGHT_CLOSE.search(text, i)
                if closing is not None:
                    state.in_thought = False
                    i = closing.end()
                elif final:
                    i = len(text)  # a thought never closed is not spoken either
                else:
                    i = max(i, len(text) - LONGEST_CLOSE)  # the closing tag may be cut across pieces
                    cut(i)
                    break
                cut(i)
                continue
            ch = text[i]
            if ch == "<" and not state.in_action:
                if opening := THOUGHT_OPEN.match(text, i):
                    cut(i)
                    state.in_thought = True
                    i = opening.end()
                    cut(i)
                    continue
                if not final and _may_open_thought(text[i:]):
                    break  # "<thi" may yet become a thought
            if ch == "*" and self.skip_actions:
                run = len(text) - i - len(text[i:].lstrip("*"))
                if i + run == len(text) and not final:
                    break  # a lone `*` may yet become `**`
                if run % 2 == 1:
                    state.in_action = not state.in_action
                elif not state.in_action:
                    current.extend("*" * run)
                    positions.extend(range(i, i + run))
                i += run
                continue
            if ch == "\n":
                state.in_action = False  # an action left open does not run into the next paragraph
                i += 1
                cut(i)
                continue
            if state.in_action:
                i += 1
                if not "".join(current).strip():
                    cut(i)  # nothing to say yet: no need to read the skipped action again
                continue
            current.append(ch)
            positions.append(i)
            i += 1
            if ch in TERMINATORS:
                sentence_end = self._sentence_end(text, i, current, final)
                if sentence_end is None:
                    if not final:
                        break  # undecided until the next piece shows what follows
                elif sentence_end > 0:
                    for j in range(i, sentence_end):
                        current.append(text[j])
                        positions.append(j)
                    i = sentence_end
                    cut(i)
                    continue
            if len(current) > self.max_chars:
                cut(i, self._soft_break(current))
            elif (
                self.quick_start
                and not self._emitted
                and not segments
                and ch.isspace()
                and len(current) > QUICK_START_CHARS
                and current[-2] in ",;:"
            ):
                cut(i)
        if final:
            if not state.in_fence:
                cut(len(text))
            cut_at = len(text)
            cut_state = _State()
        self._pending = text[cut_at:]
        self._state = cut_state
        self._emitted += len(segments)
        return segments

    def _sentence_end(self, text: str, i: int, current: list[str], final: bool) -> int | None:
        """After a terminator at `i - 1`: the index where the sentence ends (after more terminators and
        closing quotes), 0 when it does not end here, None when the text so far cannot tell."""
        j = i
        while j < len(text) and text[j] in TERMINATORS:
            j += 1
        while j < len(text) and (text[j] in CLOSERS or (text[j] in "*_" and not self.skip_actions)):
            j += 1
        if j == len(text):
            return j if final else None
        if not text[j].isspace():
            return 0  # 3.14, e.g.x, "Wait.What"
        if text[i - 1] == "." and j == i and self._abbreviation(current):
            return 0
        return j

    @staticmethod
    def _abbreviation(current: list[str]) -> bool:
        sentence = "".join(current[:-1])
        word = sentence.split()[-1].lower() if sentence.split() else ""
        word = word.lstrip("(\"'“‘")
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return True
        # "1." at the start of a line is a list item, not the end of a sentence
        return word.isdigit() and sentence.strip() == word

    def _soft_break(self, current: list[str]) -> int:
        text = "".join(current)
        for mark in SOFT_BREAKS:
            at = text.rfind(mark, 0, self.max_chars)
            if at > self.max_chars // 3:
                return at + len(mark)
        at = text.rfind(" ", 0, self.max_chars)
        return at + 1 if at > 0 else self.max_chars


def split_sentences(text: str, *, skip_actions: bool = False, max_chars: int = 240) -> list[str]:
    """A whole text, cut the same way a stream of it would be."""
    cutter = SentenceCutter(skip_actions=skip_actions, max_chars=max_chars)
    return cutter.feed(text) + cutter.finish()
