"""Catalogue pages: discovery (trending/new/top rated, tag chips, live search) and a character's page.

HTMX requests that target `#results` get the grid partial; everything else gets the full page, so every
link and tab also works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable
from xml.sax.saxutils import escape as xml_escape

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from bostonia.analytics.deps import Analytics
from bostonia.characters.deps import Characters
from bostonia.characters.schemas import Character, FavoriteState, Rate
from bostonia.characters.service import CharacterService
from bostonia.errors import InvalidInput
from bostonia.http.auth import public_base_url
from bostonia.http.deps import Config, CurrentUser, Viewer
from bostonia.identity import User
from bostonia.ui.forms import Form

Tab = Literal["trending", "new", "popular", "rating"]
TABS = [("trending", "Trending"), ("new", "New"), ("rating", "Top rated"), ("popular", "Popular")]
PAGE_SIZE = 24


@runtime_checkable
class ChatsWithCharacter(Protocol):
    """The viewer's conversations with a character, for its page: the chat capability provides it (as
    `chat`) — chat sits above characters, so characters asks for what it needs instead of importing it."""

    async def list_conversations(self, user: User, *, character_id: str) -> Sequence[Any]: ...


def wants_partial(request: Request[Any, Any, Any], target: str) -> bool:
    return bool(request.headers.get("hx-request")) and request.headers.get("hx-target") == target


async def discover(
    characters: CharacterService, viewer: User | None, *, q: str, tab: Tab, tag: str | None, cursor: str | None
) -> dict[str, Any]:
    """The grid's content: search results, a tag, or a tab (trending has no pages; the others do)."""
    next_cursor = None
    if q.strip():
        items = await characters.search(viewer, q, limit=PAGE_SIZE)
    elif tab == "trending" and not tag:
        items = await characters.trending(viewer, limit=PAGE_SIZE)
    else:
        sort = "popular" if tab == "trending" else tab
        page = await characters.browse(viewer, sort=sort, tag=tag, cursor=cursor, limit=PAGE_SIZE)
        items, next_cursor = page.items, page.next_cursor
    return {
        "characters": items,
        "q": q,
        "tab": tab,
        "tag": tag,
        "next_cursor": next_cursor,
        "tabs": TABS,
        "appending": bool(cursor),
    }


class CharacterPages(Controller):
    include_in_schema = False

    @get("/")
    async def home(
        self,
        viewer: Viewer,
        characters: Characters,
        request: Request[Any, Any, Any],
        q: FromQuery[str] = "",
        tab: FromQuery[Tab] = "trending",
        tag: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        context = await discover(characters, viewer, q=q, tab=tab, tag=tag, cursor=cursor)
        if cursor and request.headers.get("hx-request"):
            return Template("_character_cards.html", context={"user": viewer, **context})
        if wants_partial(request, "results"):
            return Template("_character_grid.html", context={"user": viewer, **context})
        tags = await characters.top_tags()
        return Template("home.html", context={"user": viewer, "top_tags": tags, **context})

    @get("/characters/{character_id:str}")
    async def character_page(
        self,
        character_id: FromPath[str],
        viewer: Viewer,
        characters: Characters,
        chat: NamedDependency[ChatsWithCharacter],
        config: Config,
        request: Request[Any, Any, Any],
        analytics: Analytics,
    ) -> Template:
        character = await characters.get(viewer, character_id)
        analytics.record(
            "character_viewed", user_id=viewer.id if viewer else None, character_id=character.id, surface="page"
        )
        conversations = await chat.list_conversations(viewer, character_id=character_id) if viewer else []
        return Template(
            "character.html",
            context={
                "user": viewer,
                "character": character,
                "conversations": conversations,
                # Absolute addresses for link previews (OpenGraph) and search engines.
                "base_url": public_base_url(request, config.server.public_url),
                **await _social(characters, viewer, character),
            },
        )

    @post("/characters/{character_id:str}/rate")
    async def rate(
        self,
        character_id: FromPath[str],
        data: Form,
        user: CurrentUser,
        characters: Characters,
        request: Request[Any, Any, Any],
    ) -> Template | Redirect:
        """The rating form: HTMX swaps the ratings section; a plain post comes back to the page."""
        try:
            rating = int(data.get("rating", ""))
        except ValueError:
            raise InvalidInput("choose from one to five stars", details={"field": "rating"}) from None
        if not 1 <= rating <= 5:
            raise InvalidInput("choose from one to five stars", details={"field": "rating"})
        await characters.rate(user, character_id, Rate(rating=rating, review=data.get("review") or None))
        character = await characters.get(user, character_id)
        if not request.headers.get("hx-request"):
            return Redirect(f"/characters/{character_id}", status_code=303)
        return Template(
            "_ratings.html",
            context={"user": user, "character": character, **await _social(characters, user, character)},
        )

    @post("/characters/{character_id:str}/delete")
    async def delete(self, character_id: FromPath[str], user: CurrentUser, characters: Characters) -> Redirect:
        await characters.delete(user, character_id)
        return Redirect("/", status_code=303)

    @get("/sitemap.xml")
    async def sitemap(self, characters: Characters, config: Config, request: Request[Any, Any, Any]) -> Response[str]:
        """The public characters' pages, for search engines (private, unlisted and age-restricted ones never)."""
        base = public_base_url(request, config.server.public_url)
        entries = [f"<url><loc>{xml_escape(base)}/</loc></url>"]
        entries += [
            f"<url><loc>{xml_escape(base)}/characters/{xml_escape(cid)}</loc><lastmod>{updated[:10]}</lastmod></url>"
            for cid, updated in await characters.public_index()
        ]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + "".join(entries) + "</urlset>\n"
        )
        return Response(body, media_type="application/xml; charset=utf-8")


async def _social(characters: CharacterService, viewer: User | None, character: Character) -> dict[str, Any]:
    """Reviews, the viewer's own rating and favorite, and what the viewer may do with the character."""
    reviews = await characters.reviews(viewer, character.id, limit=20)
    mine = next((r for r in reviews.items if viewer and r.user_id == viewer.id), None)
    return {
        "reviews": reviews.items,
        "my_review": mine,
        "favorite": FavoriteState(
            character_id=character.id,
            favorited=await characters.is_favorite(viewer, character.id),
            favorite_count=character.favorite_count,
        ),
        "can_edit": characters.can_edit(viewer, character),
        "can_export": not character.is_premium or characters.can_edit(viewer, character),
        "can_rate": viewer is not None and character.creator_id != viewer.id,
    }
