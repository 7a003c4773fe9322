"""The personas page: create, pick the default, delete."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from bostonia.errors import BostoniaError
from bostonia.http.deps import CurrentUser
from bostonia.personas.deps import Personas
from bostonia.ui.forms import Form


class PersonaPages(Controller):
    include_in_schema = False

    @get("/personas")
    async def personas_page(self, user: CurrentUser, personas: Personas) -> Template:
        return Template("personas.html", context={"user": user, "personas": await personas.list(user), "error": None})

    @post("/personas")
    async def create(self, data: Form, user: CurrentUser, personas: Personas) -> Template | Redirect:
        name = data.get("name", "").strip()
        try:
            if not name or len(name) > 64:
                raise BostoniaError("a persona needs a name of 1 to 64 characters")
            await personas.create(
                user,
                {
                    "name": name,
                    "description": data.get("description", "")[:4000],
                    "is_default": data.get("is_default") == "true",
                },
            )
        except BostoniaError as exc:
            return Template(
                "personas.html",
                status_code=422,
                context={"user": user, "personas": await personas.list(user), "error": exc.message},
            )
        return Redirect("/personas", status_code=303)

    @post("/personas/{persona_id:str}/default")
    async def make_default(self, persona_id: FromPath[str], user: CurrentUser, personas: Personas) -> Redirect:
        await personas.update(user, persona_id, {"is_default": True})
        return Redirect("/personas", status_code=303)

    @post("/personas/{persona_id:str}/delete")
    async def delete(self, persona_id: FromPath[str], user: CurrentUser, personas: Personas) -> Redirect:
        await personas.delete(user, persona_id)
        return Redirect("/personas", status_code=303)
