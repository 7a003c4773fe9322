"""Many WebSocket clients against a real server: rooms of five people typing, pinging and talking (out of
character: stored and fanned out, no model), a few one-to-one chats generating replies on the bundled
model, and a few clients reading the API meanwhile.

Counted: errors (error frames, failed requests, dropped sockets), lost messages (a message sent to a room
that a member never received, or that is not in the database afterwards), and the latency of everything
that is not generation: ping → pong, send → the sender's own `message:received` (a write and a fan-out),
and API reads. A burst then proves the rate limit answers 429 at once instead of queueing.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.helpers import PASSWORD
from tests.soak.server import ServerProcess

API = "/api/v1"
ROOM_SIZE = 5
# Setting up hundreds of accounts from one address would meet the anonymous per-IP limit; the signed-in
# limits (what the burst checks) stay as configured.
SERVER_ENV = {"BOSTONIA_RATE_LIMITS_ANONYMOUS": "100000"}


@dataclass
class LoadResult:
    clients: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    lost: int = 0
    fanned_out: int = 0  # message:received frames delivered
    typing_seen: int = 0
    presence_seen: int = 0
    generations: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"ping": [], "send": [], "api": []})

    def percentile(self, kind: str | None, q: float) -> float:
        values = sorted(v for k, vs in self.latencies_ms.items() if kind in (None, k) for v in vs)
        if not values:
            return 0.0
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    def figures(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "messages": self.sent,
            "lost": self.lost,
            "generations": self.generations,
            "p50_ms": self.percentile(None, 0.5),
            "p99_ms": self.percentile(None, 0.99),
            "p99_ping_ms": self.percentile("ping", 0.99),
            "p99_send_ms": self.percentile("send", 0.99),
            "p99_api_ms": self.percentile("api", 0.99),
            "requests": sum(len(v) for v in self.latencies_ms.values()),
        }


class Client:
    def __init__(self, index: int, token: str, conversation_id: str, *, generates: bool = False) -> None:
        self.index = index
        self.token = token
        self.conversation_id = conversation_id
        self.generates = generates  # a one-to-one chat asking the model now and then
        self.received: set[str] = set()  # contents of message:received frames
        self.sent: list[str] = []
        self.pending: dict[str, float] = {}  # content or ping id -> when sent
        self.joined = asyncio.Event()
        self.replies = 0
        self.waiting_reply = False


async def _register(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(f"{API}/auth/register", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _setup(server: ServerProcess, clients: int, generating: int) -> list[Client]:
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        tokens = await asyncio.gather(*(_register(http, f"load{n}@example.com") for n in range(clients)))
        character = (await http.get(f"{API}/characters")).json()["items"][0]["id"]
        made: list[Client] = []
        room_members = clients - generating
        for start in range(0, room_members, ROOM_SIZE):
            members = list(range(start, min(start + ROOM_SIZE, room_members)))
            owner = {"Authorization": f"Bearer {tokens[members[0]]}"}
            room = (await http.post(f"{API}/conversations", json={"character_id": character}, headers=owner)).json()
            for member in members[1:]:
                invite = await http.post(f"{API}/conversations/{room['id']}/invites", headers=owner)
                invite.raise_for_status()
                accepted = await http.post(
                    f"{API}/invites/{invite.json()['token']}/accept",
                    headers={"Authorization": f"Bearer {tokens[member]}"},
                )
                accepted.raise_for_status()
            made += [Client(member, tokens[member], room["id"]) for member in members]
        for n in range(room_members, clients):
            own = {"Authorization": f"Bearer {tokens[n]}"}
            chat = (await http.post(f"{API}/conversations", json={"character_id": character}, headers=own)).json()
            made.append(Client(n, tokens[n], chat["id"], generates=True))
        # The first message waits for moderation's models to load (and, on a fresh data dir, to be exported
        # to ONNX): a start-up cost, not load. Pay it before the clock starts.
        probe = await http.post(
            f"{API}/conversations/{made[0].conversation_id}/messages",
            json={"content": "warming up", "ooc": True},
            headers={"Authorization": f"Bearer {made[0].token}"},
            timeout=300,
        )
        probe.raise_for_status()
        return made


async def _run_client(server: ServerProcess, client: Client, result: LoadResult, until: float) -> None:
    url = server.url.replace("http://", "ws://") + f"/ws?token={client.token}"
    rng = random.Random(client.index)
    try:
        async with websockets.connect(url, max_size=2**20, open_timeout=60, ping_interval=None) as socket:

            async def send(event: str, **data: Any) -> None:
                await socket.send(
                    json.dumps({"event": event, "data": {"conversation_id": client.conversation_id, **data}})
                )

            async def receive() -> None:
                async for raw in socket:
                    frame = json.loads(raw)
                    name, data = frame["event"], frame.get("data", {})
                    now = time.monotonic()
                    if name == "conversation:joined":
                        client.joined.set()
                    elif name == "message:received":
                        content = data.get("content") or data.get("message", {}).get("content", "")
                        client.received.add(content)
                        result.fanned_out += 1
                        if (sent_at := client.pending.pop(content, None)) is not None:
                            result.latencies_ms["send"].append((now - sent_at) * 1000)
                    elif name == "pong":
                        if (sent_at := client.pending.pop(str(data.get("id")), None)) is not None:
                            result.latencies_ms["ping"].append((now - sent_at) * 1000)
                    elif name == "typing:start":
                        result.typing_seen += 1
                    elif name == "presence":
                        result.presence_seen += 1
                    elif name == "message:stream:complete":
                        client.replies += 1
                        client.waiting_reply = False
                    elif name == "error":
                        result.errors.append(f"client {client.index}: {data}")

            reader = asyncio.create_task(receive())
            await send("conversation:join")
            await asyncio.wait_for(client.joined.wait(), 60)
            await asyncio.sleep(rng.uniform(0, 1))  # spread the clients' rhythms
            n = 0
            while time.monotonic() < until:
                n += 1
                roll = rng.random()
                if client.generates:
                    if not client.waiting_reply and n % 6 == 1:
                        client.waiting_reply = True
                        await send("message:send", content=f"Client {client.index} asks a short question {n}.")
                    await socket.send(json.dumps({"event": "ping", "data": {"id": f"p{n}"}}))
                    client.pending[f"p{n}"] = time.monotonic()
                elif roll < 0.45:
                    await send("typing:start")
                    await asyncio.sleep(0.3)
                    await send("typing:stop")
                elif roll < 0.75:
                    await socket.send(json.dumps({"event": "ping", "data": {"id": f"p{n}"}}))
                    client.pending[f"p{n}"] = time.monotonic()
                else:
                    content = f"c{client.index}-{n}"
                    client.sent.append(content)
                    client.pending[content] = time.monotonic()
                    await send("message:send", content=content, ooc=True)
                await asyncio.sleep(rng.uniform(1.5, 3.0))
            await asyncio.sleep(3)  # let the last fan-outs arrive
            reader.cancel()
    except Exception as exc:  # a dropped or refused socket is an error of the run
        result.errors.append(f"client {client.index}: {type(exc).__name__}: {exc}")


async def _read_api(server: ServerProcess, client: Client, result: LoadResult, until: float) -> None:
    headers = {"Authorization": f"Bearer {client.token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            response = await http.get(f"{API}/conversations/{client.conversation_id}/messages", params={"limit": 20})
            result.latencies_ms["api"].append((time.monotonic() - started) * 1000)
            if response.status_code != 200:
                result.errors.append(f"api read {response.status_code}")
            await asyncio.sleep(random.uniform(1.0, 2.0))


async def _load(server: ServerProcess, clients: int, seconds: float, generating: int) -> LoadResult:
    result = LoadResult(clients=clients, seconds=seconds)
    everyone = await _setup(server, clients, generating)
    until = time.monotonic() + seconds
    readers = [c for c in everyone if not c.generates][:: max(1, clients // 10)]
    await asyncio.gather(
        *(_run_client(server, c, result, until) for c in everyone),
        *(_read_api(server, c, result, until) for c in readers),
    )
    rooms: dict[str, list[Client]] = {}
    for c in everyone:
        rooms.setdefault(c.conversation_id, []).append(c)
    stored = {row["content"] for row in server.query("select content from messages where ooc = 1")}
    for members in rooms.values():
        sent = [text for member in members for text in member.sent]
        result.sent += len(sent)
        result.lost += sum(1 for member in members for text in sent if text not in member.received)
        result.lost += sum(1 for text in sent if text not in stored)
    result.generations = sum(c.replies for c in everyone)
    return result


def run_load(server: ServerProcess, clients: int, seconds: float, generating: int = 3) -> LoadResult:
    return asyncio.run(_load(server, clients, seconds, generating))


@dataclass
class Burst:
    requests: int
    limited: int  # answered 429
    ok: int
    p99_limited_ms: float
    retry_after: bool  # every 429 says when to come back


def burst(server: ServerProcess, requests: int = 150) -> Burst:
    """One signed-in user (the free plan: 100 requests a minute) sends `requests` at once."""

    async def fire() -> Burst:
        limits = httpx.Limits(max_connections=requests, max_keepalive_connections=requests)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
            token = await _register(http, f"burst{random.randrange(10**9)}@example.com")
            headers = {"Authorization": f"Bearer {token}"}

            async def one() -> tuple[int, float, bool]:
                started = time.monotonic()
                response = await http.get(f"{API}/conversations", headers=headers)
                return response.status_code, (time.monotonic() - started) * 1000, "retry-after" in response.headers

            answers = await asyncio.gather(*(one() for _ in range(requests)))
        limited = sorted(ms for status, ms, _ in answers if status == 429)
        return Burst(
            requests=requests,
            limited=len(limited),
            ok=sum(1 for status, _, _ in answers if status == 200),
            p99_limited_ms=round(limited[min(len(limited) - 1, int(0.99 * len(limited)))], 1) if limited else 0.0,
            retry_after=all(has for status, _, has in answers if status == 429),
        )

    return asyncio.run(fire())
