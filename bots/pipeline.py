"""One road for every request from a chat, whatever its platform: admit, fetch, run, report.

A front end (a Slack listener, a Discord command, a button under a result) only turns what the platform sent into
a `Request` and a `Reply` that knows how to talk on that platform, then calls `serve`, which does the rest the same
way for all of them:

1. **admit**: build the request (its options checked) and reserve the user's place in the shared queue; a refusal
   is answered at once and privately, inside the platform's 3-second window (`Reply.refuse`);
2. **fetch**: acknowledge (`Reply.accept`), look the file up where it must be found first (Slack's latest picture,
   a form's file), and download it: a picture, or a GIF or a video (`bots/clips.py`), and a custom painting;
3. **run**: stylise in the worker pool while the status line follows the queue position and the progress;
4. **report**: send the result (`Reply.picture`, `Reply.clip`), or say what went wrong (`Reply.fail`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from PIL import Image

from .clips import Clip, ClipResult, check_clip_spec
from .encode import Encoded
from .jobs import StatusCallback, StylizeService, Ticket, deduplicated
from .messages import BotError, friendly_error, queue_text
from .options import JobSpec

T = TypeVar("T")
Source = Any  # a platform's reference to a file to download, or a picture kept from an earlier result (`Image`)


@dataclass
class Request:
    """What to do for whom: `user` is the queue's key ("slack:T1:U1", "discord:42"). `content` is the picture to
    repaint, or None while `locate` (run after admission, its failures told privately) still has to find it;
    `style` is the painting of a custom style."""

    user: str
    spec: JobSpec
    content: Source = None
    style: Source = None
    locate: Callable[[], Awaitable[Source]] | None = None


class Reply(Protocol):
    """How one request talks back on its platform."""

    limit: int  # the upload limit here, in bytes
    lossy: str  # the lossy format a picture falls back to when PNG is over the limit ("WEBP", "JPEG")
    early_queue: bool  # show the queue position as soon as the job is accepted (a status message exists already)

    async def refuse(self, exc: BotError) -> None:
        """Before `accept`: why the request cannot be taken, privately."""

    async def accept(self) -> None:
        """Acknowledge the request (Discord's deferral, Bolt's `ack()`): from here on the job is running."""

    async def tell(self, text: str) -> None:
        """After `accept`: a private message that never raises."""

    async def status(self, text: str) -> None:
        """Post or edit the status line ("You are number 2…", "Stylising… 40%")."""

    async def fetch(self, source: Source, label: str, *, clips: bool = False) -> Image.Image | Clip:
        """Download the picture (with `clips`, maybe a GIF or a video) behind a platform's file reference."""

    async def in_time(self, ticket: Ticket, work: Awaitable[T]) -> T:
        """`work` (fetch and run), stopped while the platform still lets us say why, if it has such a deadline."""

    async def picture(self, spec: JobSpec, encoded: Encoded, content: Image.Image, style: Image.Image | None) -> None:
        """Send a finished picture (with the buttons under it, which reuse `content` and `style`)."""

    async def clip(self, spec: JobSpec, result: ClipResult) -> None:
        """Send a finished GIF or video."""

    async def fail(self, exc: Exception) -> None:
        """After `accept`: tell the requester what went wrong, privately."""


async def serve(service: StylizeService, reply: Reply, request: Callable[[], Request]) -> None:
    """Admit, fetch, run, report: the whole life of one request. `request` builds it and may raise `BotError`."""
    try:
        req = request()
        ticket = service.admit(req.user)
    except BotError as exc:
        await reply.refuse(exc)
        return
    async with ticket:
        await reply.accept()
        if req.locate is not None:
            try:
                req.content = await req.locate()
            except Exception as exc:
                await reply.tell(friendly_error(exc))
                return
        await run(service, reply, ticket, req)


async def run(service: StylizeService, reply: Reply, ticket: Ticket, req: Request) -> None:
    """Fetch, stylise with a live status line, send the result; any failure is told privately."""
    status = deduplicated(reply.status)
    try:
        if reply.early_queue and ticket.position > 0:
            await status(queue_text(ticket.position))
        content, style, result = await reply.in_time(ticket, fetch_and_run(reply, ticket, req, status))
        if isinstance(result, ClipResult):  # a GIF or a video: a file back, without buttons (bots/clips.py)
            await reply.clip(req.spec, result)
            return
        encoded = await service.encode(result, reply.limit, lossy=reply.lossy)
        await reply.picture(req.spec, encoded, content, style)
    except Exception as exc:
        await reply.fail(exc)


async def fetch_and_run(
    reply: Reply, ticket: Ticket, req: Request, status: StatusCallback
) -> tuple[Any, Image.Image | None, Image.Image | ClipResult]:
    """The picture or clip, the painting (custom styles), and the stylised result. A clip that the spec's method
    cannot paint is refused before the painting is downloaded."""
    content = await load(reply, req.content, "Your picture", clips=True)
    if isinstance(content, Clip):
        check_clip_spec(req.spec, ticket.service.config)
    style = await load(reply, req.style, "Your style picture") if req.style is not None else None
    if isinstance(content, Clip):
        result = await ticket.run_clip(req.spec, content, reply.limit, style_image=style, on_status=status)
        return content, style, result
    return content, style, await ticket.run(req.spec, content, style_image=style, on_status=status)


async def load(reply: Reply, source: Source, label: str, *, clips: bool = False) -> Any:
    """A picture kept from an earlier result as it is; anything else downloaded."""
    return source if isinstance(source, Image.Image) else await reply.fetch(source, label, clips=clips)
