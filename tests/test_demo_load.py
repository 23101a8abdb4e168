"""Many concurrent fast requests through gradio_client against one real server: correctness, not speed.

Every request carries a photo of its own colour, so a mixed-up answer (someone else's picture) is caught; all
must come back (none lost to the queue), and the server's memory must stay bounded. No timing is asserted:
throughput and latency are measured by bench/bench_demo_load.py.
"""

from __future__ import annotations

import pytest
from support.demo import answer_problem, load_photos, make_style_dir, run_load, serve, server_env

psutil = pytest.importorskip("psutil")

N = 24  # >= 20 concurrent requests: more than the fast slots, so some must queue
SIZE = 128
MAX_RSS_GROWTH = 1.5 * 2**30


def test_concurrent_fast_requests(tmp_path):
    photos = load_photos(tmp_path, N, SIZE)
    env = server_env(make_style_dir(tmp_path), NST_DEMO_MAX_QUEUE=str(max(64, 2 * N)))
    with serve(env) as server:
        run = run_load(server, photos, SIZE, tmp_path / "downloads")
        server_log = server.log_tail()

    assert sorted(a.index for a in run.answers) == list(range(N)), "requests were lost"
    problems = [p for p in (answer_problem(a, SIZE) for a in run.answers) if p]
    assert not problems, "\n".join(problems)
    assert len({a.png for a in run.answers}) == N, "two requests were answered with the same file"
    growth = run.rss_peak - run.rss_before
    assert growth < MAX_RSS_GROWTH, f"server RSS grew by {growth / 2**20:.0f} MB\n{server_log}"
