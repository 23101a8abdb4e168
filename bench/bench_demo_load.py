"""Throughput and latency of the demo server under concurrent fast requests (loopback, gradio_client).

Starts the real `python -m demo` with an untrained test style (tiny TransformerNet, or the full-size one with
--full-net), fires --requests at once from --clients sessions, checks every answer is right (a wrong answer
makes the timing meaningless: exit 1), then prints req/s, latencies and server memory; --json writes them.

    python bench/bench_demo_load.py --requests 24 --size 128 --json artifacts/demo_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]

from support.demo import answer_problem, load_photos, make_style_dir, run_load, serve, server_env  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=24, help="concurrent requests (default 24)")
    ap.add_argument("--clients", type=int, default=4, help="client sessions sharing them (default 4)")
    ap.add_argument("--size", type=int, default=128, help="output long side in px (default 128)")
    ap.add_argument("--full-net", action="store_true", help="full-size TransformerNet instead of a tiny one")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nst-bench-demo-") as tmp:
        root = Path(tmp)
        photos = load_photos(root, args.requests, args.size)
        env = server_env(
            make_style_dir(root, tiny=not args.full_net), NST_DEMO_MAX_QUEUE=str(max(64, 2 * args.requests))
        )
        with serve(env) as server:
            run = run_load(server, photos, args.size, root / "downloads", clients=args.clients)
        problems = [p for p in (answer_problem(a, args.size) for a in run.answers) if p]

    if problems:
        print("wrong answers, no timing reported:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    latencies = sorted(a.seconds for a in run.answers)
    n = len(latencies)
    report = {
        "requests": n,
        "clients": args.clients,
        "size_px": args.size,
        "net": "full TransformerNet" if args.full_net else "tiny TransformerNet",
        "wall_s": round(run.wall_s, 2),
        "throughput_rps": round(n / run.wall_s, 2),
        "latency_p50_s": round(latencies[n // 2], 2),
        "latency_max_s": round(latencies[-1], 2),
        "rss_before_mb": round(run.rss_before / 2**20),
        "rss_peak_mb": round(run.rss_peak / 2**20),
        "cpu_count": os.cpu_count(),
    }
    print(
        f"{n} requests ({report['net']}, {args.size} px): {report['throughput_rps']} req/s, "
        f"p50 {report['latency_p50_s']} s, max {report['latency_max_s']} s, "
        f"server RSS {report['rss_before_mb']} -> {report['rss_peak_mb']} MB peak"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
