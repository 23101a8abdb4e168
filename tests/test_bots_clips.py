"""Animated GIFs and short videos in the bots: Discord's `/stylize` and a Slack mention with a GIF answer with a GIF
of as many frames (real discord.py / slack-bolt against the local fakes, 127.0.0.1); a file that only claims to be
a video and a clip over the bot's limits get one clear private message; the upload-limit retry in isolation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import pytest
from support.bots import (
    DURATIONS,
    SLACK_BOT_USER,
    gif_bytes,
    gif_frames,
    picture,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.discord_bot import final_edit, private_followup, slash
from support.discord_bot import run as run_discord
from support.slack_bot import CHANNEL, uploaded
from support.slack_bot import run as run_slack

import nst_core
from bots.clips import Clip, render_clip
from bots.config import MIB, CommonConfig
from bots.messages import BadOptions, BotError, progress_text
from bots.options import JobSpec

pytestmark = pytest.mark.usefixtures("tiny_styles")

NOT_A_VIDEO = b"this is a text file that someone named clip.mp4\n" * 4


def mp4_bytes(w: int = 48, h: int = 32, frames: int = 4, fps: int = 8) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_image(picture(w, h, seed=i))))
        out.mux(stream.encode())
    return buf.getvalue()


def video_frames(data: bytes) -> tuple[int, tuple[int, int]]:
    with av.open(io.BytesIO(data)) as clip:
        frames = [f.to_image() for f in clip.decode(video=0)]
    return len(frames), frames[0].size


# ------------------------------------------------------------------------------------------------ Discord
def test_discord_stylize_with_a_gif_answers_with_a_gif(monkeypatch):
    async def scenario(bot, fake):
        url = fake.media.add("dance.gif", gif_bytes(), "image/gif")
        payload = slash(fake, url=url, content_type="image/gif", style="tiny_b")
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        assert len(done["files"]) == 1, done["payload"]
        _, filename, data = done["files"][0]
        assert filename == "stylized-tiny_b.gif"
        assert gif_frames(data) == ("GIF", (48, 32), DURATIONS)  # never enlarged; every frame, its timing kept
        assert "GIF, 4 frames" in done["payload"]["content"] and "48×32" in done["payload"]["content"]
        assert not done["payload"].get("components")  # no buttons under a clip: no clip is kept for them

    run_discord(monkeypatch, scenario)


def test_discord_fake_video_and_too_long_gif_are_told_privately(monkeypatch):
    async def scenario(bot, fake):
        async def failed_job(payload: dict) -> str:
            bot._connection.parse_interaction_create(payload)
            return await private_followup(fake, payload)

        url = fake.media.add("clip.mp4", NOT_A_VIDEO, "video/mp4")
        said = await failed_job(slash(fake, user_id=4001, url=url, content_type="video/mp4"))
        assert said == (
            "⚠️ That file is not a video: it looks like text (use MP4, MOV, MKV, WebM, AVI, or an animated GIF/WebP)"
        )
        url = fake.media.add("long.gif", gif_bytes(), "image/gif")
        said = await failed_job(slash(fake, user_id=4002, url=url, content_type="image/gif"))
        assert said == "⚠️ Your GIF has 4 frames, over the limit of 3; cut it shorter"
        assert not fake.of("edit", lambda c: c["files"])  # nothing was posted publicly

    run_discord(monkeypatch, scenario, NST_BOT_VIDEO_MAX_FRAMES="3")


# -------------------------------------------------------------------------------------------------- Slack
def mention(fake, fid: str, name: str, data: bytes, mimetype: str, ts: str) -> dict:
    info = fake.add_file(fid, name, data, mimetype, user="U0ALICE", channels=(CHANNEL,))
    return {"type": "app_mention", "user": "U0ALICE", "channel": CHANNEL, "ts": ts, "event_ts": ts,
            "text": f"<@{SLACK_BOT_USER}> tiny", "files": [info]}  # fmt: skip


def test_slack_mention_with_a_gif_uploads_a_gif():
    async def scenario(bot, fake, slack):
        event = mention(fake, "F0GIF", "dance.gif", gif_bytes(), "image/gif", "1690000000.000100")
        assert (await slack.event(event))[0] == 200
        params, _ = await uploaded(fake)
        upload = json.loads(params["files"])[0]
        assert gif_frames(fake.uploads[upload["id"]]) == ("GIF", (48, 32), DURATIONS)
        assert params["thread_ts"] == event["ts"] and "your GIF" in params["initial_comment"]
        assert "4 frames" in upload["title"]

    run_slack(scenario)


def test_slack_mention_with_a_video_uploads_an_mp4():
    async def scenario(bot, fake, slack):
        event = mention(fake, "F0MP4", "clip.mp4", mp4_bytes(), "video/mp4", "1690000000.000300")
        assert (await slack.event(event))[0] == 200
        params = (await fake.wait_for("files.completeUploadExternal", timeout=90))["params"]  # not a picture
        upload = json.loads(params["files"])[0]
        data = fake.uploads[upload["id"]]
        assert nst_core.detect_media(data).kind == "video" and video_frames(data) == (4, (48, 32))
        assert "your video" in params["initial_comment"]

    run_slack(scenario)


def test_slack_fake_video_gets_one_private_message():
    async def scenario(bot, fake, slack):
        event = mention(fake, "F0VID", "clip.mp4", NOT_A_VIDEO, "video/mp4", "1690000000.000200")
        assert (await slack.event(event))[0] == 200
        said = await fake.wait_for("chat.postEphemeral", lambda c: c["params"]["user"] == "U0ALICE")
        assert said["params"]["text"].startswith("That file is not a video: it looks like text"), said["params"]
        assert not fake.of("files.completeUploadExternal")

    run_slack(scenario)


# ------------------------------------------------------------------------------------- the upload limit
class FakeStylizeVideo:
    """Stands in for nst_core.stylize_video: writes a file whose size grows with the requested long side."""

    def __init__(self, bytes_per_pixel: float, overhead: int = 0) -> None:
        self.bytes_per_pixel, self.overhead = bytes_per_pixel, overhead
        self.sizes: list[int | None] = []
        self.styles: list[tuple] = []  # (style name, paintings) of each call

    def __call__(self, source, destination, style, *, size=None, style_images=(), **kwargs):
        self.sizes.append(size)
        self.styles.append((style, tuple(style_images)))
        side = size or 200
        Path(destination).write_bytes(b"x" * int(self.overhead + side * side * self.bytes_per_pixel))
        return nst_core.VideoResult("animation", 2, side, side // 2, None, False, 0.0)


def clip_config(**env: str) -> CommonConfig:
    return CommonConfig.from_env({"NST_BOT_DEVICE": "cpu", "NST_BOT_VIDEO_SIZE": "160", **env})


def test_a_result_over_the_upload_limit_is_made_once_more_smaller():
    clip = Clip(gif_bytes(200, 100, [100, 100]), "animation")
    spec = JobSpec("tiny", "Tiny")
    fits_second = FakeStylizeVideo(100)  # 160 px: 2.56 MB; after the retry under 1 MiB
    result = render_clip(clip, spec, clip_config(), MIB, stylize_video=fits_second)
    assert fits_second.sizes[0] == 160 and fits_second.sizes[1] < 160 and len(fits_second.sizes) == 2
    assert len(result.data) <= MIB and result.ext == "gif"

    never_fits = FakeStylizeVideo(0, overhead=3 * MIB // 2)  # 1.5 MB at any size
    with pytest.raises(BotError, match=r"over the 1 MB upload limit here even when made smaller"):
        render_clip(clip, spec, clip_config(), MIB, stylize_video=never_fits)
    assert len(never_fits.sizes) == 2  # one retry, no more


def test_clip_size_never_enlarges_and_best_quality_paintings_are_refused():
    small = Clip(gif_bytes(), "animation")
    stand_in = FakeStylizeVideo(0.01)
    render_clip(small, JobSpec("tiny", "Tiny", size=512), clip_config(), MIB, stylize_video=stand_in)
    assert stand_in.sizes == [None]  # 48x32 stays 48x32
    painting = picture(32, 32, seed=5)
    render_clip(small, JobSpec(None, "your style image", method="arbitrary"), clip_config(), MIB,
                style_image=painting, stylize_video=stand_in)  # fmt: skip
    assert stand_in.styles[-1] == (None, (painting,))  # a painting goes to stylize_video's style_images
    with pytest.raises(BadOptions, match="still pictures only"):
        render_clip(small, JobSpec(None, "your style image", method="gatys"), clip_config(), MIB,
                    style_image=painting, stylize_video=stand_in)  # fmt: skip


def test_frame_progress_reads_frames_and_time_left():
    progress = nst_core.Progress(step=3, total=40, elapsed=10.0, unit="frame")
    assert progress_text(progress) == "Stylising… frame 3 of 40, about 2 min left"
