"""The HTMX web UI: full pages for plain requests, partials for `HX-Request`s. Thin: services do the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template
from markupsafe import escape

from bostonia.auth.service import AuthService
from bostonia.chat.streams import CHUNK, COMPLETE
from bostonia.config import Settings
from bostonia.errors import BostoniaError
from bostonia.http.auth import SESSION_COOKIE
from bostonia.http.deps import Auth, Characters, Chat, CurrentUser, Viewer
from bostonia.http.deps import Settings as SettingsDep
from bostonia.users.schemas import User

Form = URLEncodedBody[dict[str, str]]


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next=` must not become an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def session_cookie(token: str, settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=settings.auth.secure_cookies,
        max_age=settings.auth.session_days * 86400,
        path="/",
    )


class PagesController(Controller):
    include_in_schema = False

    # -- accounts ------------------------------------------------------------------------------

    @get("/login")
    async def login_form(self, viewer: Viewer, next: FromQuery[str | None] = None) -> Response[Any]:
        if viewer:
            return Redirect(safe_next(next))
        return Template("login.html", context={"user": None, "next": safe_next(next), "error": None})

    @post("/login")
    async def login(
        self, data: Form, auth: Auth, settings: SettingsDep, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        target = safe_next(data.get("next"))
        try:
            user = await auth.login(data.get("email", ""), data.get("password", ""))
        except BostoniaError as exc:
            return Template(
                "login.html",
                status_code=401,
                context={"user": None, "next": target, "error": exc.message, "email": data.get("email", "")},
            )
        return await self._signed_in(user, target, auth, settings, request)

    @get("/register")
    async def register_form(self, viewer: Viewer) -> Response[Any]:
        if viewer:
            return Redirect("/")
        return Template("register.html", context={"user": None, "error": None, "form": {}})

    @post("/register")
    async def register(
        self, data: Form, auth: Auth, settings: SettingsDep, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        try:
            user = await auth.register(data.get("email", ""), data.get("password", ""), data.get("display_name"))
        except BostoniaError as exc:
            form = {"email": data.get("email", ""), "display_name": data.get("display_name", "")}
            return Template(
                "register.html",
                status_code=422 if exc.code != "email_taken" else 409,
                context={"user": None, "error": exc.message, "form": form},
            )
        return await self._signed_in(user, "/", auth, settings, request)

    async def _signed_in(
        self, user: User, target: str, auth: AuthService, settings: Settings, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        token = await auth.new_browser_session(
            user, user_agent=request.headers.get("user-agent"), ip=request.client.host if request.client else None
        )
        return Redirect(target, status_code=303, cookies=[session_cookie(token, settings)])

    @post("/logout")
    async def logout(self, auth: Auth, request: Request[Any, Any, Any]) -> Response[Any]:
        if token := request.cookies.get(SESSION_COOKIE):
            await auth.end_browser_session(token)
        response = Redirect("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- characters ----------------------------------------------------------------------------

    @get("/")
    async def home(self, viewer: Viewer, characters: Characters) -> Template:
        return Template("home.html", context={"user": viewer, "characters": await characters.list(viewer)})

    @get("/characters/{character_id:str}")
    async def character_page(
        self, character_id: FromPath[str], viewer: Viewer, characters: Characters, chat: Chat
    ) -> Template:
        character = await characters.get(viewer, character_id)
        conversations = await chat.list_conversations(viewer, character_id=character_id) if viewer else []
        return Template(
            "character.html", context={"user": viewer, "character": character, "conversations": conversations}
        )

    @post("/characters/{character_id:str}/chat")
    async def start_chat(self, character_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        conversation = await chat.start_conversation(user, character_id)
        return Redirect(f"/chats/{conversation.id}", status_code=303)

    # -- chats -------------------------------------------------------------------------------------

    @get("/chats")
    async def chats_page(self, user: CurrentUser, chat: Chat) -> Template:
        return Template("chats.html", context={"user": user, "conversations": await chat.list_conversations(user)})

    @get("/chats/{conversation_id:str}")
    async def chat_page(
        self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat, characters: Characters
    ) -> Template:
        conversation = await chat.get_conversation(user, conversation_id)
        return Template(
            "chat.html",
            context={
                "user": user,
                "conversation": conversation,
                "character": await characters.get(user, conversation.character_id),
                "messages": await chat.messages(user, conversation_id),
                "reply": chat.active_reply(user, conversation_id),
            },
        )

    @post("/chats/{conversation_id:str}/messages")
    async def send_message(
        self, conversation_id: FromPath[str], data: Form, user: CurrentUser, chat: Chat, characters: Characters
    ) -> Template:
        """HTMX: answers with the user's message and a reply bubble that streams itself over SSE."""
        reply = await chat.send(user, conversation_id, data.get("content", ""))
        conversation = await chat.get_conversation(user, conversation_id)
        character = await characters.get(user, conversation.character_id)
        return Template(
            "_exchange.html",
            status_code=200,
            context={"user": user, "conversation": conversation, "character": character, "reply": reply},
        )

    @get("/chats/{conversation_id:str}/stream/{message_id:str}")
    async def stream_reply(
        self,
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        user: CurrentUser,
        chat: Chat,
        characters: Characters,
        request: Request[Any, Any, Any],
    ) -> ServerSentEvent:
        """The reply as HTML fragments: `chunk` events append text, one `done` event swaps in the
        finished message (or an error)."""
        conversation = await chat.get_conversation(user, conversation_id)
        character = await characters.get(user, conversation.character_id)
        reply = chat.active_reply(user, conversation_id, message_id)
        engine = request.app.template_engine
        assert engine is not None  # configured in app.py
        partials = engine.get_template("_message.html")

        def render(message: Any = None, error: str | None = None) -> str:
            return partials.render(message=message, error=error, character=character, user=user, message_id=message_id)

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            if reply is None:  # finished before we connected: send the stored message
                stored = next((m for m in await chat.messages(user, conversation_id) if m.id == message_id), None)
                yield ServerSentEventMessage(event="done", data=render(stored, None if stored else "reply not found"))
                return
            async for event in reply.events():
                if event.event == CHUNK:
                    yield ServerSentEventMessage(event="chunk", data=str(escape(event.data["content"])))
                elif event.event == COMPLETE:
                    yield ServerSentEventMessage(event="done", data=render(event.data["message"]))
                elif event.event == "error":
                    yield ServerSentEventMessage(event="done", data=render(error=event.data["message"]))

        return ServerSentEvent(events())

    @post("/chats/{conversation_id:str}/cancel", status_code=204)
    async def cancel_reply(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> None:
        await chat.cancel(user, conversation_id)

    @post("/chats/{conversation_id:str}/delete")
    async def delete_chat(self, conversation_id: FromPath[str], user: CurrentUser, chat: Chat) -> Redirect:
        await chat.delete_conversation(user, conversation_id)
        return Redirect("/chats", status_code=303)
