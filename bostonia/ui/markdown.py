"""Markdown in chat messages, rendered on the server and safe by construction.

Models (and people) write markdown: emphasis, code, lists. It is rendered with markdown-it-py on a
CommonMark subset with raw HTML switched off, so any `<tag>` in the text comes out escaped; what a model
writes can never become markup the page runs. Headings and images are left out on purpose: a heading
inside a bubble breaks the page's outline, and an image would make the reader's browser fetch whatever
address a model (or an imported card) names. Links keep only the schemes markdown-it allows (no
`javascript:`/`data:`) and open with `rel="nofollow noopener noreferrer"`.

`*actions*` — the roleplay convention for narration — are CommonMark emphasis; they render as
`<em class="action">` so the stylesheet can set them apart from the spoken text.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from bostonia.prompt.reasoning import split_reasoning

LEFT_OUT = ["heading", "lheading", "image", "html_block", "html_inline"]


def _link_open(renderer: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return str(renderer.renderToken(tokens, idx, options, env))


def _em_open(renderer: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("class", "action")
    return str(renderer.renderToken(tokens, idx, options, env))


@cache
def _parser() -> MarkdownIt:
    # `breaks`: a chat line break is a line break (people do not write paragraphs with blank lines).
    parser = MarkdownIt("commonmark", {"html": False, "breaks": True}).disable(LEFT_OUT)
    parser.add_render_rule("link_open", _link_open)
    parser.add_render_rule("em_open", _em_open)
    return parser


def render_markdown(text: str, thoughts_label: str = "Thoughts") -> Markup:
    """A message's text as sanitised HTML (escaped text inside a few safe elements); a reasoning model's
    thinking folded away above what the character says, as SillyTavern shows it (`thoughts_label`: its
    summary, translated by the template)."""
    thoughts, said = split_reasoning(text)
    label = escape(thoughts_label)
    folded = "".join(
        f'<details class="thinking"><summary>{label}</summary>{_parser().render(thought).strip()}</details>'
        for thought in thoughts
    )
    return Markup(folded + _parser().render(said).strip())
