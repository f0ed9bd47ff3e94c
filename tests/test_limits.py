"""The limits in real Redis: replicas sharing one budget, the peer cases at window and month boundaries, Redis down."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from datetime import datetime

import pytest
from conftest import REDIS_URL as URL

from llmops_wb.errors import LimitsUnavailableError
from llmops_wb.limits import RedisLimits

def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_two_replicas_share_one_budget(prefix: str):
    replicas = [RedisLimits(URL, rate_per_minute=1000, monthly_budget=10_000, prefix=prefix) for _ in range(2)]
    start, results = threading.Barrier(40), []
    def request(i: int):
        start.wait()
        results.append(replicas[i % 2].admit(f"caller-{i}", 500))
    threads = [threading.Thread(target=request, args=(i,)) for i in range(40)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert sum(a.admitted for a in results) == 20
    assert {a.limit for a in results if not a.admitted} == {"budget"}
    assert replicas[0].spent() == 10_000


def test_a_rolling_minute_never_admits_more_than_the_limit(prefix: str):  # peer case C20
    limits = RedisLimits(URL, rate_per_minute=60, monthly_budget=10**9, prefix=prefix)
    first = [limits.admit("k1", 1, 59.9) for _ in range(60)]
    second = [limits.admit("k1", 1, 60.1) for _ in range(60)]
    assert (sum(a.admitted for a in first), sum(a.admitted for a in second)) == (60, 0)
    assert second[0].retry_after_s == pytest.approx(59.8)
    assert limits.admit("k1", 1, 119.9).admitted


def test_a_refused_request_uses_no_quota(prefix: str):  # peer case C07
    limits = RedisLimits(URL, rate_per_minute=2, monthly_budget=1_000, prefix=prefix)
    a, b, c, d = (limits.admit("k1", tokens, t) for t, tokens in ((0, 100), (1, 5_000), (2, 100), (3, 100)))
    assert [(x.admitted, x.limit) for x in (a, b, c, d)] == [(True, ""), (False, "budget"), (True, ""),
                                                             (False, "rate")]
    assert d.retry_after_s == pytest.approx(57.0)
    limits.settle(a, 40)
    assert limits.spent(0) == 140


def test_the_budget_is_per_calendar_month(prefix: str):  # peer case C06
    limits = RedisLimits(URL, rate_per_minute=100, monthly_budget=1_000_000, prefix=prefix)
    events = [("2025-01-31T23:59:59Z", 400_000), ("2025-02-01T00:00:00Z", 300_000),
              ("2025-02-28T23:59:59Z", 250_000), ("2025-03-01T00:00:00Z", 100_000)]
    assert [limits.admit("k1", tokens, at(t)).admitted for t, tokens in events] == [True] * 4
    assert [limits.spent(at(f"2025-0{m}-15T00:00:00Z")) for m in (1, 2, 3)] == [400_000, 550_000, 100_000]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fail_open", [False, True], ids=["closed", "open"])
def test_redis_stopped_mid_run(fail_open: bool):
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    limits = RedisLimits(f"redis://127.0.0.1:{port}/0", rate_per_minute=10, monthly_budget=1_000,
                         fail_open=fail_open)
    try:
        for _ in range(100):  # until the server answers
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1): break
            except OSError: time.sleep(0.05)
        admitted = limits.admit("k1", 100)
        assert (admitted.admitted, admitted.counted, limits.spent()) == (True, True, 100)
        server.terminate()
        server.wait(timeout=10)
        if fail_open:
            admitted = limits.admit("k1", 100)
            assert (admitted.admitted, admitted.counted) == (True, False)
        else:
            with pytest.raises(LimitsUnavailableError, match="cannot be used"): limits.admit("k1", 100)
    finally:
        if server.poll() is None: server.terminate()
        server.wait(timeout=10)
        limits._redis.close()
