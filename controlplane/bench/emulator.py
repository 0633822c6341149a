"""``controlplane bench emulator``: measured throughput and TTFT of one emulated replica.

Starts ``controlplane emulator`` as a subprocess on a free 127.0.0.1 port for each
time scale, drives it with a bounded number of concurrent streaming completions,
prints requests/s and client-side TTFT p50/p95 (wall, and wall x scale in
emulated seconds), then stops the process it started by its PID.
"""

from __future__ import annotations

import argparse

from controlplane.ports import free_port

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emulator", help="requests/s and TTFT of one emulator replica under streaming load")
    p.add_argument("--requests", type=int, default=200, help="requests per time scale (default 200)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    p.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (default 64)")
    p.add_argument("--prompt-tokens", type=int, default=12, help="prompt tokens per request (default 12)")
    p.add_argument("--profile", default="cpu-tiny")
    p.add_argument("--scales", default="1,10", help="comma-separated time scales (default 1,10)")
    p.set_defaults(func=run)



def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _drive(url: str, args: argparse.Namespace) -> tuple[float, list[float], int]:
    import asyncio
    import time

    import httpx

    body = {"prompt": "x", "prompt_tokens": args.prompt_tokens, "max_tokens": args.max_tokens,
            "stream": True, "ignore_eos": True}
    ttfts: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            queue.get_nowait()
            start = time.perf_counter()
            first = None
            try:
                async with client.stream("POST", url + "/v1/completions", json=body) as r:
                    if r.status_code != 200:
                        failures += 1
                        continue
                    async for line in r.aiter_lines():
                        if first is None and line.startswith("data: {"):
                            first = time.perf_counter() - start
            except httpx.HTTPError:
                failures += 1
                continue
            if first is not None:
                ttfts.append(first)

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
        wall = time.perf_counter() - start
    return wall, ttfts, failures


def run(args: argparse.Namespace) -> int:
    import asyncio
    import subprocess
    import sys
    import time

    import httpx

    if args.requests < 1 or args.concurrency < 1 or args.max_tokens < 1:
        raise ValueError("--requests, --concurrency, --max-tokens: must be >= 1")
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    print(f"profile {args.profile}: {args.requests} streaming requests, concurrency {args.concurrency}, "
          f"{args.prompt_tokens} prompt / {args.max_tokens} output tokens")
    for scale in scales:
        port = free_port()
        cmd = [sys.executable, "-m", "controlplane", "emulator", "--port", str(port), "--profile", args.profile,
               "--startup-s", "0", "--time-scale", str(scale), "--drain-grace-s", "2", "--log-file", "/dev/null"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    print(f"time scale {scale:g}: emulator did not become healthy", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            wall, ttfts, failures = asyncio.run(_drive(url, args))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        done = len(ttfts)
        if not done:
            print(f"time scale {scale:g}: no request succeeded ({failures} failures)")
            continue
        p50, p95 = _percentile(ttfts, 0.5), _percentile(ttfts, 0.95)
        print(f"time scale {scale:g}: {done / wall:.1f} req/s wall ({done / wall / scale:.1f} req/s emulated), "
              f"TTFT p50 {p50 * 1000:.1f} ms / p95 {p95 * 1000:.1f} ms wall "
              f"(x{scale:g} = {p50 * scale * 1000:.1f} / {p95 * scale * 1000:.1f} ms emulated), "
              f"{failures} failures")
    return 0
