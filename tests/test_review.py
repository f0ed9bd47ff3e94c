"""The review queue on SQLite (WAL) and on the machine's PostgreSQL: claims that never overlap, and no accepted item
lost when the processes using it are killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from llmops_wb.errors import RequestError
from llmops_wb.review import ReviewStore

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


OPENED: list[ReviewStore] = []


def opened(target: str) -> ReviewStore:
    "A store on `target`, closed when the test ends."
    OPENED.append(ReviewStore(target))
    return OPENED[-1]


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path: Path):
    "Where a queue of this test's own lives: a SQLite file, or a schema of its own in PostgreSQL."
    if request.param == "sqlite":
        yield str(tmp_path / "review.db")
        while OPENED: OPENED.pop().close()
        return
    import psycopg
    schema = f"review_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"CREATE SCHEMA {schema}")
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    while OPENED: OPENED.pop().close()
    with psycopg.connect(POSTGRES, autocommit=True) as admin: admin.execute(f"DROP SCHEMA {schema} CASCADE")


def fill(store: ReviewStore, n: int) -> list[str]:
    return [store.enqueue("summarize", "v1.1.0", "fake", {"text": f"case {i}"}, f"out {i}", 0.5, now=i).id
            for i in range(n)]


def test_concurrent_reviewers_never_claim_the_same_item(target: str):
    ids = fill(opened(target), 60)
    stores = [opened(target) for _ in range(6)]  # one connection per reviewer

    def work(k: int) -> list[str]:
        claimed = []
        while (item := stores[k].claim(f"reviewer-{k}", lease_s=600)) is not None:
            claimed.append(item.id)
            stores[k].decide(item.id, f"reviewer-{k}", "approve")
        return claimed

    with ThreadPoolExecutor(6) as pool: claims = list(pool.map(work, range(6)))
    every = [i for c in claims for i in c]
    assert sorted(every) == sorted(ids)  # each item claimed exactly once
    assert opened(target).counts() == {"approved": 60}


def test_bad_decisions_leave_the_queue_unchanged(target: str):
    store = opened(target)
    [item_id] = fill(store, 1)
    store.claim("ana", lease_s=60, now=100)
    before = store.get(item_id)
    for args, kwargs, status in [(("nope", "ana", "approve"), {}, 404), ((item_id, "bo", "approve"), {"now": 120}, 409),
                                 ((item_id, "ana", "approve"), {"now": 200}, 409),
                                 ((item_id, "ana", "edit"), {"text": " ", "now": 120}, 422)]:
        with pytest.raises(RequestError) as raised: store.decide(*args, **kwargs)
        assert raised.value.status == status
        assert store.get(item_id) == before
    assert store.decide(item_id, "ana", "reject", reason="wrong number", now=130).status == "rejected"
    assert store.decide(item_id, "ana", "reject", reason="wrong number", now=140).decided_at == 130  # idempotent


WORKER = textwrap.dedent("""
    import sys, time
    from llmops_wb.review import ReviewStore
    store, role = ReviewStore(sys.argv[1]), sys.argv[2]
    while True:
        if role == "enqueue":
            item = store.enqueue("summarize", "v1.1.0", "fake", {"text": "x"}, "y", 0.5)
            print("accepted", item.id, flush=True)
        else:
            item = store.claim("reviewer", lease_s=600)
            if item is None: time.sleep(0.001); continue
            store.decide(item.id, "reviewer", "approve")
            print("decided", item.id, flush=True)
""")


def test_no_accepted_item_is_lost_when_the_processes_are_killed(target: str, tmp_path: Path):
    opened(target)  # the table exists before both start
    logs = {role: tmp_path / f"{role}.log" for role in ("enqueue", "decide")}
    outputs = {role: open(log, "w") for role, log in logs.items()}
    processes = [subprocess.Popen([sys.executable, "-c", WORKER, target, role], stdout=outputs[role],
                                  env={**os.environ}) for role in logs]
    def lines(role: str, word: str) -> int: return logs[role].read_text().count(word)
    deadline = time.monotonic() + 60  # kill them mid-run, once both are busy (a loaded machine starts them slowly)
    while (lines("enqueue", "accepted") < 200 or lines("decide", "decided") < 20) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in processes: process.send_signal(signal.SIGKILL)
    for process in processes: process.wait(timeout=10)
    for output in outputs.values(): output.close()
    def reported(role: str, word: str) -> list[str]:  # whole lines only: a kill can cut the last one short
        return [parts[1] for line in logs[role].read_text().splitlines()
                if len(parts := line.split()) == 2 and parts[0] == word and len(parts[1]) == 32]
    accepted, decided = reported("enqueue", "accepted"), reported("decide", "decided")
    store = opened(target)
    held = {item.id: item for item in store.items(limit=1_000_000)}
    assert len(accepted) > 50 and decided, (len(accepted), len(decided))
    assert set(accepted) <= set(held)  # every item whose enqueue returned is there
    assert all(held[i].status == "approved" for i in decided)  # and every decision that returned


def test_a_dropped_postgresql_connection_is_opened_again(target: str):
    "A restart or failover of PostgreSQL ends the connection: the call at that moment fails, the next ones work."
    if not target.startswith("postgresql"): pytest.skip("PostgreSQL only")
    import psycopg
    store = opened(target)
    [item_id] = fill(store, 1)
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store._db.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError): store.get(item_id)
    assert store.get(item_id).id == item_id


def test_a_locked_queue_times_out_instead_of_hanging(target: str):
    "A queue another transaction holds refuses the call after the store's timeout (the service answers 503)."
    if not target.startswith("postgresql"): pytest.skip("PostgreSQL only")
    import psycopg
    opened(target)  # the table exists
    store = ReviewStore(target, timeout_s=1)
    OPENED.append(store)
    with psycopg.connect(target) as locker:
        locker.execute("LOCK TABLE review_items IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"): fill(store, 1)
