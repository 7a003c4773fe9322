"""A reasoning model's thinking, kept out of what is read back.

DeepSeek-R1, QwQ and their kin write `<think>...</think>` before the reply, and chats imported from
programs that kept it inline carry it in the message. It is the model's scratchpad, not what the character
said: sent back as history it costs hundreds of tokens a turn and steers the character by reasoning it
never voiced (SillyTavern keeps it out of the prompt too), and recalled as a memory it is no memory.
"""

from __future__ import annotations

import re

THINKING = re.compile(r"<(think|thinking|reasoning)\b[^>]*>(.*?)</\1\s*>\s*", re.IGNORECASE | re.DOTALL)


def without_reasoning(text: str) -> str:
    """`text` without its closed thinking blocks (an unclosed one is still being written: kept); the text
    itself if nothing else is left."""
    if "<" not in text:
        return text
    left = THINKING.sub("", text).strip()
    return left if left and left != text.strip() else text


def split_reasoning(text: str) -> tuple[list[str], str]:
    """The closed thinking blocks' texts, and what is left (as `without_reasoning`)."""
    said = without_reasoning(text)
    if said == text:
        return [], text
    return [thought for match in THINKING.finditer(text) if (thought := match.group(2).strip())], said
