"""Batch throughput against the emulator's dynamic rate limit, with a compressed minute.

N images go through `cut_many` while the emulator enforces the documented limit (40 →
doubling after a busy minute → 500) and a service time per request. The best possible
schedule under the same rule (every window used to its limit from the emulator's own
window start, each request taking the service time) is computed in the same process; the
figure is achieved throughput as a percentage of it, with the count of 429 answers and
of lost or failed items.
Run: .venv/bin/python benchmarks/batch_throughput.py [N] [MINUTE_SECONDS] [SERVICE_SECONDS]
"""

from __future__ import annotations

import math
import sys
import time
from multiprocessing.connection import Connection

import bgcut
import numpy as np
from bgcut.emulator import Emulator
from bgcut.emulator.ratelimit import BUSY_SHARE, TOP_LIMIT
from common import table, write_json
from photos import mosaic

KEY = "bench-key-0123456789abcdef"


def best_elapsed(n: int, origin: float, start: float, minute: float, base: int, service: float) -> float:
    """Seconds from `start` until the last of n requests could be answered under the rule."""
    window = math.floor((start - origin) / minute)
    limit, left, t = base, n, start
    while True:
        sent = min(limit, left)
        left -= sent
        if left == 0:
            return t + service - start
        busy = sent >= limit * BUSY_SHARE
        limit = min(limit * 2, TOP_LIMIT) if busy else base
        window += 1
        t = origin + window * minute


def images(n: int) -> list[np.ndarray]:
    """n distinct small crops of real photographs (so the cache never answers)."""
    big = mosaic(1.2, seed=7)
    rng = np.random.default_rng(3)
    out = []
    for _ in range(n):
        y, x = rng.integers(0, big.shape[0] - 48), rng.integers(0, big.shape[1] - 64)
        out.append(np.ascontiguousarray(big[y : y + 48, x : x + 64]))
    return out


def serve(conn: Connection, n: int, minute: float, service: float) -> None:
    """The emulator in its own process, as the real service is on its own machine."""
    with Emulator({KEY: n + 10}, minute=minute, base_limit=40, service_time=service) as emu:
        conn.send((emu.endpoint, emu.limits.origin))
        conn.recv()
        conn.send(([s.status for s in emu.seen], emu.charged(KEY)))


def main(n: int, minute: float, service: float, jobs: int = 48) -> None:
    import multiprocessing as mp

    pics = images(n)
    parent, child = mp.Pipe()
    server = mp.get_context("fork").Process(target=serve, args=(child, n, minute, service), daemon=True)
    server.start()
    endpoint, origin = parent.recv()
    start = time.monotonic()
    items = bgcut.cut_many(
        pics,
        engine="backgroundcut",
        api_key=KEY,
        endpoint=endpoint,
        jobs=jobs,
        minute=minute,
        initial_limit=40,
        cache=False,
    )
    elapsed = time.monotonic() - start
    parent.send("done")
    statuses, charged = parent.recv()
    server.join(timeout=10)
    best = best_elapsed(n, origin, start, minute, 40, service)
    ok = sum(i.ok for i in items)
    lost = n - len({i.index for i in items})
    rec = {
        "n": n,
        "minute_s": minute,
        "service_s": service,
        "jobs": jobs,
        "elapsed_s": elapsed,
        "best_s": best,
        "percent_of_best": 100 * best / elapsed,
        "per_emulated_minute": n / (elapsed / minute),
        "best_per_emulated_minute": n / (best / minute),
        "requests": len(statuses),
        "answered_429": statuses.count(429),
        "percent_429": 100 * statuses.count(429) / len(statuses),
        "failed": n - ok,
        "lost": lost,
        "credits_charged": charged,
    }
    print(
        table(
            "Batch throughput vs the best schedule under the dynamic limit",
            [
                "N",
                "minute s",
                "service s",
                "elapsed s",
                "best s",
                "% of best",
                "img/min",
                "429s",
                "% 429",
                "failed",
                "lost",
                "charged",
            ],
            [
                [
                    n,
                    minute,
                    service,
                    elapsed,
                    best,
                    rec["percent_of_best"],
                    rec["per_emulated_minute"],
                    rec["answered_429"],
                    rec["percent_429"],
                    rec["failed"],
                    lost,
                    charged,
                ]
            ],
        )
    )
    print(f"written: {write_json('batch_throughput', rec)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 1000,
        float(args[1]) if len(args) > 1 else 10.0,
        float(args[2]) if len(args) > 2 else 0.1,
    )
