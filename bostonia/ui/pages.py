"""What makes the web app installable and findable: the service worker (served from the root so it may
control every page), the offline page it falls back to, the favicon, and robots.txt."""

from __future__ import annotations

from functools import cache

from litestar import Controller, Response, get
from litestar.response import File, Template

from bostonia import __version__
from bostonia.ui.assets import STATIC_DIR


@cache
def service_worker() -> bytes:
    # The cache name and the shell's URLs carry the version: a new release installs a fresh cache.
    return (STATIC_DIR / "sw.js").read_bytes().replace(b"__VERSION__", __version__.encode())


class AppShellPages(Controller):
    include_in_schema = False

    @get("/sw.js", sync_to_thread=False)
    def service_worker(self) -> Response[bytes]:
        return Response(
            service_worker(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    @get("/offline", sync_to_thread=False)
    def offline(self) -> Template:
        """The page the service worker shows when the server cannot be reached (no user data in it)."""
        return Template("offline.html", context={"user": None})

    @get("/favicon.ico", sync_to_thread=False)
    def favicon(self) -> File:
        return File(STATIC_DIR / "icons" / "favicon.ico", media_type="image/x-icon", content_disposition_type="inline")

    @get("/robots.txt", sync_to_thread=False)
    def robots(self) -> Response[str]:
        rules = "User-agent: *\nDisallow: /api/\nDisallow: /chats\nDisallow: /account\nSitemap: /sitemap.xml\n"
        return Response(rules, media_type="text/plain; charset=utf-8")
