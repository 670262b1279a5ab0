"""The task-and-vote cycle under load, against `arena serve --workers N` on PostgreSQL.

One run measures, on one throw-away database:

- the project (invite → consent → htmx votes, the endpoints a browser uses) at 16, 64 and 256
  concurrent annotators, on a study with 0 votes and on one with 200,000 votes already cast
  (seeded with bulk SQL: same pool of items, the answered ones at the front of the order);
- the ceiling: the minimal one-INSERT endpoint (benchmarks/minimal_vote_app.py) on the same
  stack (sync FastAPI, form, SQLAlchemy pool, Jinja) with the same number of processes, and
  with `--floor` the same endpoint making a vote's round trips (three more statements and the
  rate limits' Redis round trip) with none of its work: what the round trips alone cost;
- server and PostgreSQL CPU per request (from /proc: the uvicorn processes, and the PostgreSQL
  backends of this database), and the load generator's own CPU per cycle (a fixed amount of
  work: when it rises, the machine was slower during that point);
- SQL statements per task-and-vote cycle (answer_and_continue, counted in this process);
- before each point, a wait (at most 60 s) for the CPUs to be 90 % idle over a second, so that
  the seeding's upkeep or the previous point's stragglers are not measured as its cost, and
  a warm-up (at least 10 s for a server's first point, when its processes build their caches);
- a `kill -9` of one server process in the middle of a 64-annotator point: clients whose
  connection dies re-send the same answer; at the end every acknowledged vote must be stored
  exactly once with the acknowledged answer, and no item may hold more than k votes.

The load generator is a separate process (`--generate`, asyncio over raw HTTP/1.1 keep-alive
connections, one per annotator) so its CPU is its own and small. Images are not fetched (a
browser fetches two per task from /study/…/image/…; see README for what they cost).

    python benchmarks/vote_load.py --seconds 12 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHOICES = ("left", "right", "tie", "both_bad")
# The form's fields a browser sends back (`ahead`: the task the page holds ahead, see README).
FIELD = re.compile(rb'name="(csrf_token|assignment|ahead)" value="([^"]*)"')
TICK = os.sysconf("SC_CLK_TCK")
# The first point of each server warms up at least this long: its new processes build their
# per-study caches then (86,655 items per study), once, as a long-running server did long ago.
# With 3 s the first point ran 280-390 votes/s against 435-440 for the next (2026-12-06).
FIRST_WARMUP = 10.0


# --- CPU time from /proc (no dependency) -------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def server_cpu(root_pid: int) -> dict[int, float]:
    """CPU seconds of a process and all its descendants, by pid."""
    stats = {pid: _stat(pid) for pid in _all_pids()}
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, stat in stats.items():
            if stat and stat[0] == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return {pid: stats[pid][1] for pid in tree if stats.get(pid)}


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving `database` (other tenants excluded)."""
    found = {}
    for pid in _all_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if cmdline.startswith(b"postgres:") and f" {database} ".encode() in cmdline:
            stat = _stat(pid)
            if stat:
                found[pid] = stat[1]
    return found


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after.values()) - sum(before.get(pid, 0.0) for pid in after)


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float | None:
    """The busiest server process's share of the server's CPU over a point, in %. The kernel
    hands each keep-alive connection to one worker for good, so 16 connections can split
    unevenly: a worker held to one core's GIL then caps the throughput while CPUs idle."""
    spent = [after[pid] - before.get(pid, 0.0) for pid in after]
    total = sum(spent)
    return round(100 * max(spent) / total) if total > 0 else None


def _cpu_times() -> tuple[float, float]:
    """(idle, total) jiffies of all CPUs since boot (/proc/stat)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return values[3] + values[4], sum(values)  # idle + iowait


def settle(idle_share: float = 0.9, window: float = 1.0, limit: float = 60.0) -> float:
    """Wait (up to `limit` seconds) until the CPUs were at least `idle_share` idle over a
    `window`: what ran before (the seeding's upkeep, the previous point's stragglers) is not
    measured as this point's cost. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        idle0, total0 = _cpu_times()
        time.sleep(window)
        idle1, total1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle_share:
            break
    return round(time.monotonic() - started, 1)


# --- the load generator (its own process) ------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.writer is None:
            await self.open()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if b":" in line:
                name, value = line.split(b":", 1)
                headers.setdefault(name.strip().lower(), value.strip())
        body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        return status, headers, body


def _request(
    method: str, path: str, host: str, cookie: str = "", form: dict | None = None
) -> bytes:
    body = "&".join(f"{k}={quote(str(v))}" for k, v in (form or {}).items()).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if form is not None:
        lines += [
            "HX-Request: true",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(body)}",
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _sign_in(host: str, port: int, invite: str) -> tuple[Connection, str, str, dict]:
    """Open the invite, accept the instructions, load the first task (not timed)."""
    conn = Connection(host, port)
    hostport = f"{host}:{port}"
    status, headers, _ = await conn.send(_request("GET", urlsplit(invite).path, hostport))
    assert status == 303, status
    cookie = headers[b"set-cookie"].split(b";", 1)[0].decode()
    path = headers[b"location"].decode()
    _s, _h, page = await conn.send(_request("GET", path, hostport, cookie))
    fields = dict(FIELD.findall(page))
    status, _h, _ = await conn.send(
        _request(
            "POST",
            f"{path}/consent",
            hostport,
            cookie,
            {"csrf_token": fields[b"csrf_token"].decode()},
        )
    )
    assert status == 303, status
    _s, _h, page = await conn.send(_request("GET", path, hostport, cookie))
    return conn, cookie, path, dict(FIELD.findall(page))


async def generate(job: dict) -> dict:
    host, port, seconds = job["host"], job["port"], job["seconds"]
    hostport = f"{host}:{port}"
    if job["mode"] == "project":
        gate = asyncio.Semaphore(16)

        async def one(invite):
            async with gate:
                return await _sign_in(host, port, invite)

        clients = await asyncio.gather(*(one(invite) for invite in job["invites"]))
        vote_path = None
    else:
        clients = []
        for k in range(job["clients"]):
            conn = Connection(host, port)
            await conn.open()
            fields = {b"assignment": f"m{k}".encode(), b"csrf_token": b"x"}
            clients.append((conn, "", "", fields))
        vote_path = "/vote"
    latencies: list[float] = []
    acknowledged: dict[str, str] = {}
    errors: list[str] = []
    counters = Counter()
    # The first seconds are not measured: every server process and pooled connection compiles
    # and prepares its statements on first use (the steady state is what is measured).
    start = time.monotonic() + job.get("warmup", 0)
    end = start + seconds
    cpu_before: tuple = ()

    async def measure_from_start() -> None:
        nonlocal cpu_before
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu_before = (
            server_cpu(job["server_pid"]),
            postgres_cpu(job["database"]),
            time.process_time(),
        )

    async def annotate(index: int, conn: Connection, cookie: str, path: str, fields: dict):
        n = 0
        while time.monotonic() < end and b"assignment" in fields:
            choice = CHOICES[(index + n) % 4]
            form = {
                "csrf_token": fields[b"csrf_token"].decode(),
                "assignment": fields[b"assignment"].decode(),
                "choice": choice,
                "client_ms": "900",
            }
            if b"ahead" in fields:
                form["ahead"] = fields[b"ahead"].decode()
            request = _request("POST", vote_path or f"{path}/vote", hostport, cookie, form)
            sent = time.monotonic()
            while True:
                try:
                    status, _headers, body = await conn.send(request)
                    break
                except (OSError, asyncio.IncompleteReadError):
                    # The server process died with the request: the answer may or may not be
                    # stored. Send the same answer again on a new connection (idempotent).
                    counters["resent"] += 1
                    conn.close()
                    if time.monotonic() > end + 30:
                        errors.append("gave up after a lost connection")
                        return
                    await asyncio.sleep(0.05)
            done = time.monotonic()
            if status != 200:
                errors.append(f"{status}: {body[:160]!r}")
                return
            if sent >= start and done <= end:
                latencies.append(done - sent)
            elif done > end:
                counters["after_window"] += 1
            acknowledged[form["assignment"]] = choice
            fields = dict(FIELD.findall(body))
            n += 1
        if b"assignment" not in fields:
            counters["finished_study"] += 1

    async def killer():
        await asyncio.sleep(max(0.0, start - time.monotonic()) + job["kill_after"])
        # The busiest child of the server: a worker (not a helper process) serving clients.
        children = server_cpu(job["server_pid"])
        children.pop(job["server_pid"], None)
        if children:
            busiest = max(children, key=children.get)
            os.kill(busiest, signal.SIGKILL)
            counters["killed_pid"] = busiest

    tasks = [asyncio.create_task(annotate(k, *client)) for k, client in enumerate(clients)]
    await measure_from_start()
    if job.get("kill_after"):
        tasks.append(asyncio.create_task(killer()))
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu_after = (
        server_cpu(job["server_pid"]),
        postgres_cpu(job["database"]),
        time.process_time(),
    )
    await asyncio.gather(*tasks)
    for conn, *_rest in clients:
        conn.close()
    done = len(latencies)
    ordered = sorted(latencies)

    def pct(q: float) -> float | None:
        return round(1000 * ordered[min(done - 1, int(q * done))], 1) if done else None

    per = 1000 / max(1, done)
    return {
        "mode": job["mode"],
        "clients": len(clients),
        "seconds": seconds,
        "requests": done,
        "per_s": round(done / seconds, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors[:5],
        "n_errors": len(errors),
        "resent_after_lost_connection": counters["resent"],
        "killed_pid": counters.get("killed_pid"),
        "server_cpu_ms": round(cpu_delta(cpu_before[0], cpu_after[0]) * per, 2),
        "busiest_worker_pct": busiest_share(cpu_before[0], cpu_after[0]),
        "postgres_cpu_ms": round(cpu_delta(cpu_before[1], cpu_after[1]) * per, 2),
        "generator_cpu_ms": round((cpu_after[2] - cpu_before[2]) * per, 3),
        "acknowledged": acknowledged if job["mode"] == "project" else {},
    }


def run_generator(job: dict) -> dict:
    """The load generator in a process of its own, once the machine is idle; its JSON
    result, with the seconds waited for that (`settled_s`)."""
    settled = settle()
    done = subprocess.run(
        [sys.executable, __file__, "--generate"],
        input=json.dumps(job).encode(),
        capture_output=True,
        timeout=job["seconds"] + 600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.decode()[-3000:]}")
    return {**json.loads(done.stdout), "settled_s": settled}


# Above this share of the server's CPU in one of two workers, a point's throughput says more
# about how the kernel split the connections than about the endpoint (see busiest_share).
UNEVEN_PCT = 60
UNEVEN_RERUNS = 2


def measure(build_job: Callable[[], dict], reruns: int = UNEVEN_RERUNS) -> dict:
    """A point (the job `build_job` makes), measured again with new connections, at most
    `reruns` times, while one server worker did more than UNEVEN_PCT % of the server's CPU:
    the kernel gave it most of the keep-alive connections (in two full runs on 2026-12-06,
    the first point of every server), and its one core then capped the throughput while the
    other idled. Not for a point with a kill (the survivor takes every reconnection). The
    votes of a discarded try stay in the point's `acknowledged` (they are stored); its
    figures do not count."""
    acknowledged: dict[str, str] = {}
    attempt = 0
    while True:
        job = build_job()
        point = run_generator(job)
        acknowledged.update(point.pop("acknowledged"))
        share = point.get("busiest_worker_pct")
        if job.get("kill_after") or share is None or share <= UNEVEN_PCT or attempt == reruns:
            return {**point, "acknowledged": acknowledged, "uneven_retries": attempt}
        print(json.dumps({"discarded": "uneven connections", **point}), file=sys.stderr, flush=True)
        attempt += 1


# --- the servers -------------------------------------------------------------------------------


class Server:
    """`arena serve` (or uvicorn on the minimal app) as a process group on a free port."""

    def __init__(self, command: list[str], env: dict, port: int, log: Path) -> None:
        self.port = port
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True
        )
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz in time")
            time.sleep(0.1)
        time.sleep(1.0)  # every worker process up

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, workdir: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_DATABASE_URL=database_url,
        ARENA_SECRET_KEY="vote-load-benchmark-secret",
        ARENA_MEDIA_DIR=str(workdir / "media"),
        ARENA_BASE_URL=f"http://127.0.0.1:{port}",
        # Shared across the processes, as in production with several workers.
        ARENA_REDIS_URL="redis://127.0.0.1:6379/0",
        ARENA_REDIS_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
        # All clients share one address and vote as fast as they can: lift the limits.
        ARENA_VOTE_RATE_PER_IP="100000000",
        ARENA_INVITE_RATE_PER_IP="100000000",
        ARENA_VOTE_RATE_PER_ANNOTATOR="100000000",
        ARENA_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


# --- the database ------------------------------------------------------------------------------


def throwaway_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"arena_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def seed(database_url: str, media_dir: Path, prompts: int, existing_votes: int) -> dict:
    """One pool (6 generators x `prompts` prompts, one image each) and two pairwise studies
    over it (k = 3): "empty" and "voted", the second with `existing_votes` votes cast by
    simulated annotators on the items at the front of its order, inserted with bulk SQL."""
    import hashlib
    import io

    from PIL import Image as PILImage
    from sqlalchemy import insert, text

    from app.db import make_engine, make_session_factory
    from app.media import MediaStore
    from app.models import Batch, Generator, Image, Prompt, PromptSet
    from app.services.studies.schemas import StudyCreate
    from app.services.studies.slots import ensure_slots
    from app.services.studies.study import create_study, open_study
    from app.settings import Settings

    store = MediaStore(media_dir)
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (90, 120, 30)).save(out, format="JPEG")
    jpeg = out.getvalue()
    sha = hashlib.sha256(jpeg).hexdigest()
    path = store.rendition_path(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg)

    engine = make_engine(Settings(database_url=database_url))
    studies = {}
    with make_session_factory(engine)() as session:
        prompt_set = PromptSet(name="load-prompts")
        gens = [Generator(name=f"load-gen-{g}") for g in range(6)]
        session.add_all([prompt_set, *gens])
        session.flush()
        session.execute(
            insert(Prompt),
            [
                {"prompt_set_id": prompt_set.id, "external_id": f"p{k}", "text": f"prompt {k}"}
                for k in range(prompts)
            ],
        )
        prompt_ids = list(
            session.scalars(
                text("SELECT id FROM prompts WHERE prompt_set_id = :p"), {"p": prompt_set.id}
            )
        )
        for gen in gens:
            batch = Batch(generator_id=gen.id, n_images=prompts)
            session.add(batch)
            session.flush()
            session.execute(
                insert(Image),
                [
                    {
                        "generator_id": gen.id,
                        "prompt_id": p,
                        "batch_id": batch.id,
                        "sha256": hashlib.sha256(f"{gen.id}:{p}".encode()).hexdigest(),
                        "width": 8,
                        "height": 8,
                        "byte_size": 1,
                        "format": "PNG",
                    }
                    for p in prompt_ids
                ],
            )
        for name in ("empty", "voted"):
            study = create_study(
                session,
                StudyCreate(
                    name=f"load-{name}",
                    kind="pairwise",
                    generators=[g.name for g in gens],
                    prompt_set=prompt_set.name,
                    raters_per_item=3,
                    attention_check_rate=0.0,
                ),
            )
            study.display_width = study.display_height = 8
            open_study(session, study)
            ensure_slots(session, study)
            session.execute(
                text(
                    "INSERT INTO renditions (study_id, image_id, variant, sha256, width, height, "
                    "byte_size, created_at) SELECT :s, id, 'clean', :sha, 8, 8, :n, now() "
                    "FROM images WHERE batch_id IN (SELECT id FROM batches WHERE generator_id "
                    "= ANY(:g))"
                ),
                {"s": study.id, "sha": sha, "n": len(jpeg), "g": [g.id for g in gens]},
            )
            studies[name] = study
        session.commit()
        voted = studies["voted"]
        if existing_votes:
            _seed_votes(session, voted.id, existing_votes)
        session.commit()
        result = {name: (s.id, s.public_id) for name, s in studies.items()}
    # The seeding's own upkeep done before anything is measured (the planner's statistics
    # included: VACUUM's ANALYZE): autovacuum would otherwise
    # visit the hundreds of thousands of rows just inserted during the first points (a study
    # that gathered 200,000 votes over weeks has long been vacuumed), a checkpoint would write
    # them out, and the kernel would write back its dirty pages (os.sync below).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
        try:
            conn.execute(text("CHECKPOINT"))
        except Exception as error:  # noqa: BLE001 - it needs a superuser or pg_checkpoint
            print(f"no CHECKPOINT after seeding ({error.__class__.__name__})", file=sys.stderr)
    engine.dispose()
    os.sync()
    return result


def _seed_votes(session, study_id: int, votes: int) -> None:
    """`votes` answered assignments and their votes on the items first in the study's order
    (k = 3 slots each, three distinct simulated annotators per item), slots consumed."""
    from sqlalchemy import text

    from app.services.studies.votes import recount_answers

    people = max(30, (votes // 100) // 3 * 3)
    third = people // 3
    session.execute(
        text(
            "INSERT INTO annotators (study_id, handle, token_hash, is_simulated, created_at, "
            "invite_uses, n_answered, n_answered_real) SELECT :s, 'seed-' || :s || '-' || n, "
            "md5('seed' || :s || n) || md5('x' || :s || n), true, now(), 0, 0, 0 "
            "FROM generate_series(0, :people - 1) AS n"
        ),
        {"s": study_id, "people": people},
    )
    ids = list(
        session.scalars(
            text("SELECT id FROM annotators WHERE study_id = :s ORDER BY id"), {"s": study_id}
        )
    )
    session.execute(
        text("CREATE TEMP TABLE seed_people (k int primary key, annotator_id int) ON COMMIT DROP")
    )
    session.execute(
        text("INSERT INTO seed_people VALUES (:k, :a)"),
        [{"k": k, "a": a} for k, a in enumerate(ids)],
    )
    session.execute(
        text(
            "CREATE TEMP TABLE seed_slots ON COMMIT DROP AS "
            "SELECT id, item_key, slot, prompt_id, gen_a, gen_b, "
            "row_number() OVER (ORDER BY position, item_key, slot) - 1 AS n "
            "FROM study_slots WHERE study_id = :s ORDER BY position, item_key, slot LIMIT :v"
        ),
        {"s": study_id, "v": votes},
    )
    # Slot n belongs to item n // 3 and goes to person (n % 3) * third + (n // 3) % third:
    # an item's three slots go to three different people, and nobody gets an item twice.
    session.execute(
        text(
            "INSERT INTO assignments (public_id, study_id, annotator_id, prompt_id, "
            "image_left_id, image_right_id, generator_left_id, generator_right_id, item_key, "
            "slot, issued_at, expires_at, answered_at) "
            "SELECT md5('a' || :s || '-' || n), :s, p.annotator_id, s.prompt_id, ia.id, ib.id, "
            "s.gen_a, s.gen_b, s.item_key, s.slot, now() - interval '1 day', "
            "now() - interval '1 day' + interval '10 minutes', now() - interval '1 day' "
            "FROM seed_slots s "
            "JOIN seed_people p ON p.k = (s.n % 3) * :third + (s.n / 3) % :third "
            "JOIN images ia ON ia.generator_id = s.gen_a AND ia.prompt_id = s.prompt_id "
            "JOIN images ib ON ib.generator_id = s.gen_b AND ib.prompt_id = s.prompt_id"
        ),
        {"s": study_id, "third": third},
    )
    session.execute(
        text(
            "INSERT INTO votes (assignment_id, study_id, annotator_id, choice, winner, "
            "server_ms, created_at) SELECT id, study_id, annotator_id, "
            "(ARRAY['left','right','tie','both_bad'])[1 + id % 4], "
            "(ARRAY['model_a','model_b','tie','tie (bothbad)'])[1 + id % 4], 2000, answered_at "
            "FROM assignments WHERE study_id = :s AND answered_at IS NOT NULL"
        ),
        {"s": study_id},
    )
    session.execute(text("DELETE FROM study_slots WHERE id IN (SELECT id FROM seed_slots)"))
    recount_answers(session, study_id)


def invites(database_url: str, study_id: int, count: int, port: int) -> list[str]:
    from app.db import make_engine, make_session_factory
    from app.models import Study
    from app.services.studies.invites import create_invites
    from app.settings import Settings

    engine = make_engine(Settings(database_url=database_url))
    with make_session_factory(engine)() as session:
        study = session.get(Study, study_id)
        urls = [
            url for _a, url in create_invites(session, study, count, f"http://127.0.0.1:{port}")
        ]
        session.commit()
    engine.dispose()
    return urls


def _backend_cpu_ns(pid: int) -> int | None:
    """A PostgreSQL backend's CPU time so far, from the kernel's scheduler statistics (the
    server runs on this machine in the benchmark; None where it does not)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _statement_kind(statement: str) -> str:
    """A statement's first words ("DELETE FROM study_slots"), to name it in the report; a
    statement of data-modifying CTEs by the writes it makes, joined with " + "."""
    words = statement.split()
    if words[0] == "WITH":
        writes = re.findall(r"\((UPDATE \w+|INSERT INTO \w+|DELETE FROM \w+)", statement)
        if writes:
            return " + ".join(writes)
    return " ".join(words[:3] if words[0] in ("DELETE", "INSERT") else words[:2])


def statements_per_cycle(
    database_url: str, study_id: int, media_dir: Path, cycles: int = 30
) -> dict:
    """answer_and_continue's statements per cycle as the task page drives it (one task held
    ahead), counted in this process on the same study (a fresh annotator; the first cycle, which
    fills this process's caches, left out), with the PostgreSQL backend's CPU per statement
    (median over the cycles, µs): a statement whose cost grows shows here first."""
    from sqlalchemy import event, text

    from app.db import make_engine, make_session_factory
    from app.media import MediaStore
    from app.models import Study, utcnow
    from app.services.studies.annotator_sessions import start_session
    from app.services.studies.assignment import answer_and_continue, claim_ahead, next_assignment
    from app.services.studies.invites import create_invites
    from app.settings import Settings

    settings = Settings(database_url=database_url)
    engine = make_engine(settings)
    counts = []
    cpu: dict[str, list[float]] = {}
    with make_session_factory(engine)() as session:
        study = session.get(Study, study_id)
        ((annotator, _url),) = create_invites(session, study, 1, "http://bench")
        viewer, _token = start_session(session, annotator)
        store = MediaStore(media_dir)
        task = next_assignment(session, annotator)
        ahead = claim_ahead(session, store, study, annotator, viewer, now=utcnow())
        session.commit()
        for cycle in range(cycles + 1):
            # The cycle's transaction, on this backend (not counted: asked before listening).
            backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            seen = []

            def before(_conn, _cursor, statement, *_args, seen=seen, pid=backend):
                seen.append((_statement_kind(statement), _backend_cpu_ns(pid)))

            def after(_conn, _cursor, _statement, *_args, seen=seen, cycle=cycle, pid=backend):
                kind, started = seen[-1]
                ended = _backend_cpu_ns(pid)
                if cycle and started is not None and ended is not None:
                    cpu.setdefault(kind, []).append((ended - started) / 1000)

            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
            step = answer_and_continue(
                session,
                store,
                study,
                annotator,
                viewer,
                task.public_id,
                choice="left",
                ahead=ahead.assignment.public_id if ahead else None,
                claim_ahead_room=True,
            )
            session.commit()
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
            counts.append(len(seen))
            task, ahead = step.assignment, step.ahead
    engine.dispose()
    steady = counts[1:]
    return {
        "median": sorted(steady)[len(steady) // 2],
        "max": max(steady),
        "postgres_cpu_us": {
            kind: round(sorted(values)[len(values) // 2]) for kind, values in cpu.items()
        },
    }


def verify(database_url: str, acknowledged: dict[str, str]) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT a.public_id, v.choice FROM votes v JOIN assignments a "
                    "ON a.id = v.assignment_id WHERE a.public_id = ANY(:ids)"
                ),
                {"ids": list(acknowledged)},
            ).all()
        )
        duplicates = conn.execute(
            text("SELECT count(*) - count(DISTINCT assignment_id) FROM votes")
        ).scalar()
        overfilled = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT a.study_id, a.item_key FROM votes v JOIN "
                "assignments a ON a.id = v.assignment_id WHERE a.item_key IS NOT NULL "
                "GROUP BY a.study_id, a.item_key HAVING count(*) > 3) x"
            )
        ).scalar()
        repeated = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT a.annotator_id, a.item_key FROM votes v JOIN "
                "assignments a ON a.id = v.assignment_id WHERE a.item_key IS NOT NULL "
                "GROUP BY a.annotator_id, a.item_key HAVING count(*) > 1) x"
            )
        ).scalar()
    engine.dispose()
    return {
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": sum(1 for a in acknowledged if a not in stored),
        "changed": sum(1 for a, c in acknowledged.items() if a in stored and stored[a] != c),
        "duplicates": duplicates,
        "overfilled_items": overfilled,
        "item_twice_to_one_annotator": repeated,
    }


# The floor: the minimal endpoint making the round trips a vote makes (four statements where it
# makes one, and the rate limits' Redis round trip), with none of the vote's work.
FLOOR_ENV = {"MINIMAL_EXTRA_STATEMENTS": "3", "MINIMAL_RATE_LIMIT": "1"}


def _ceiling_points(
    mode: str,
    extra_env: dict,
    database_url: str,
    workdir: Path,
    *,
    workers: int,
    concurrency: tuple[int, ...],
    seconds: float,
    warmup: float,
    reruns: int = UNEVEN_RERUNS,
) -> list[dict]:
    """The minimal app (benchmarks/minimal_vote_app.py) under uvicorn with the project's
    process count, at each concurrency; `mode` names its points ("minimal" or "floor")."""
    from sqlalchemy.engine import make_url

    database = make_url(database_url).database
    port = _free_port()
    env = {**server_env(database_url, workdir, port), **extra_env}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "minimal_vote_app:create_app",
        "--factory",
        "--app-dir",
        str(ROOT / "benchmarks"),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    points = []
    ceiling = Server(command, env, port, workdir / f"{mode}.log")
    try:
        for index, clients in enumerate(concurrency):
            point = measure(
                lambda index=index, clients=clients: {
                    "mode": "minimal",
                    "host": "127.0.0.1",
                    "port": port,
                    "seconds": seconds,
                    "warmup": warmup if index else max(warmup, FIRST_WARMUP),
                    "clients": clients,
                    "server_pid": ceiling.process.pid,
                    "database": database,
                },
                reruns,
            )
            point.pop("acknowledged")
            point["mode"] = mode
            points.append(point)
            print(json.dumps(point), file=sys.stderr, flush=True)
    finally:
        ceiling.stop()
    return points


def run_suite(
    seconds: float = 12,
    workers: int = 2,
    warmup: float = 3,
    concurrency: tuple[int, ...] = (16, 64, 256),
    existing_votes: int = 200_000,
    prompts: int | None = None,
    kill_clients: int = 64,
    minimal: bool = True,
    floor: bool = False,
    database_url: str | None = None,
    uneven_reruns: int = UNEVEN_RERUNS,
) -> dict:
    from sqlalchemy.engine import make_url

    from app.migrate import upgrade
    from app.settings import Settings

    # Room for the seeded votes and for what the points answer (k = 3 slots, 15 pairs).
    prompts = prompts or max(200, (existing_votes // 3 + 20_000) // 15)
    own = database_url is None
    database_url = database_url or throwaway_database()
    database = make_url(database_url).database
    workdir = Path(tempfile.mkdtemp(prefix="arena-vote-load-"))
    result: dict = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "workers": workers,
        "seconds_per_point": seconds,
        "warmup_seconds": warmup,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "points": [],
    }
    acknowledged: dict[str, str] = {}
    try:
        upgrade(Settings(database_url=database_url))
        started = time.monotonic()
        studies = seed(database_url, workdir / "media", prompts, existing_votes)
        result["seed_s"] = round(time.monotonic() - started, 1)
        result["items_per_study"] = prompts * 15
        result["statements_per_cycle"] = statements_per_cycle(
            database_url, studies["empty"][0], workdir / "media"
        )
        port = _free_port()
        arena = [sys.executable, "-c", "from app.cli.main import main; main()"]
        server = Server(
            # No access lines, as the minimal endpoint (uvicorn --no-access-log).
            [*arena, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
            server_env(database_url, workdir, port),
            port,
            workdir / "server.log",
        )
        try:
            # Each study's point next to the other's at the same concurrency: their ratio is
            # then measured over the same minute of this machine (a VM's speed drifts; all the
            # empty study's points first left the other study's to a slower stretch).
            plan = [(name, n, None) for n in concurrency for name in ("empty", "voted")]
            if kill_clients:
                plan.append(("empty", kill_clients, seconds / 2))
            for index, (name, clients, kill_after) in enumerate(plan):
                # New annotators (invites) for each try of the point.
                point = measure(
                    lambda index=index, name=name, clients=clients, kill_after=kill_after: {
                        "mode": "project",
                        "host": "127.0.0.1",
                        "port": port,
                        "seconds": seconds,
                        "warmup": warmup if index else max(warmup, FIRST_WARMUP),
                        "invites": invites(database_url, studies[name][0], clients, port),
                        "server_pid": server.process.pid,
                        "database": database,
                        "kill_after": kill_after,
                    },
                    uneven_reruns,
                )
                acknowledged.update(point.pop("acknowledged"))
                point.update(study=name, existing_votes=existing_votes if name == "voted" else 0)
                result["points"].append(point)
                print(json.dumps(point), file=sys.stderr, flush=True)
        finally:
            server.stop()
        ceilings = [("minimal", {})] if minimal else []
        if minimal and floor:
            ceilings.append(("floor", FLOOR_ENV))
        for mode, extra_env in ceilings:
            result["points"].extend(
                _ceiling_points(
                    mode,
                    extra_env,
                    database_url,
                    workdir,
                    workers=workers,
                    concurrency=concurrency,
                    seconds=seconds,
                    warmup=warmup,
                    reruns=uneven_reruns,
                )
            )
        result["exactly_once"] = verify(database_url, acknowledged)
        return result
    finally:
        if own:
            drop_database(database_url)


TARGET_OF_MINIMAL = 0.6  # issue 18: the vote cycle at 16 annotators against the one INSERT


def cpu_per_request(point: dict) -> float:
    """All the CPU one request cost on this machine: server, PostgreSQL and load generator."""
    return point["server_cpu_ms"] + point["postgres_cpu_ms"] + point["generator_cpu_ms"]


def _against_minimal(by: dict) -> list[str]:
    """The project against the minimal endpoint at the lowest concurrency both were measured
    at (16 by default): by throughput, and by CPU per request, which is what throughput comes
    to when the CPUs are the limit (all three processes share them)."""
    shared = sorted(
        n
        for mode, _study, n, _killed in by
        if mode == "minimal" and ("project", "empty", n, False) in by
    )
    if not shared:
        return []
    n = shared[0]
    project, minimal = by[("project", "empty", n, False)], by[("minimal", None, n, False)]
    lines = []
    if minimal["per_s"]:
        uneven = [
            f"{name}'s busiest worker did {point['busiest_worker_pct']} % of its CPU"
            for name, point in (("the project", project), ("the minimal endpoint", minimal))
            if (point.get("busiest_worker_pct") or 0) > UNEVEN_PCT
        ]
        lines.append(
            f"\nat {n} annotators: project / minimal endpoint = "
            f"{project['per_s'] / minimal['per_s']:.2f} (target {TARGET_OF_MINIMAL})"
            + (
                f"; uneven connections ({', '.join(uneven)}): not comparable, run it again"
                if uneven
                else ""
            )
        )
    vote_cpu, minimal_cpu = cpu_per_request(project), cpu_per_request(minimal)
    if minimal["postgres_cpu_ms"] and minimal_cpu:
        lines.append(
            f"at {n} annotators: CPU per request (server + PostgreSQL + generator) "
            f"{vote_cpu:.2f} ms for a vote, {minimal_cpu:.2f} ms for the minimal endpoint = "
            f"{vote_cpu / minimal_cpu:.2f}× (with the CPUs the limit, "
            f"{TARGET_OF_MINIMAL} of its throughput needs at most {1 / TARGET_OF_MINIMAL:.2f}×)"
        )
    floor = by.get(("floor", None, n, False))
    if floor and minimal["per_s"] and minimal["postgres_cpu_ms"] and minimal_cpu:
        floor_cpu = cpu_per_request(floor)
        lines.append(
            f"at {n} annotators: the floor (the minimal endpoint making a vote's round trips, "
            f"none of its work) = {floor['per_s'] / minimal['per_s']:.2f} of the minimal "
            f"endpoint's throughput, {floor_cpu:.2f} ms CPU per request = "
            f"{floor_cpu / minimal_cpu:.2f}×; the vote's own work on top of it "
            f"{vote_cpu - floor_cpu:.2f} ms"
        )
    return lines


def _share(point: dict) -> str:
    share = point.get("busiest_worker_pct")
    return "–" if share is None else f"{share} %"


def report(result: dict) -> str:
    lines = [
        f"vote_load {result['date']}: {result['workers']} server processes, "
        f"{result['seconds_per_point']} s per point after {result['warmup_seconds']} s of "
        f"warm-up ({max(result['warmup_seconds'], FIRST_WARMUP):g} s for a server's first), "
        f"{result['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in result['load_average'])} at start; "
        f"{result['items_per_study']:,} items per study, seeded in {result['seed_s']} s",
        f"SQL statements per task-and-vote cycle (answer_and_continue): median "
        f"{result['statements_per_cycle']['median']}, max {result['statements_per_cycle']['max']}",
        "PostgreSQL CPU per statement of the cycle (µs, median over 30 cycles of one annotator): "
        + (
            ", ".join(
                f"{kind} {us}"
                for kind, us in result["statements_per_cycle"].get("postgres_cpu_us", {}).items()
            )
            or "not measured (the server is not on this machine)"
        ),
        "",
        "| server | annotators | votes in study | req/s | p50 ms | p99 ms | errors | server CPU ms/req"
        " | PostgreSQL CPU ms/req | generator CPU ms/req | busiest worker's share of server CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in result["points"]:
        who = {
            "minimal": "minimal one-INSERT",
            "floor": "floor: one-INSERT + a vote's round trips",
        }.get(p["mode"], "project")
        if p.get("killed_pid"):
            who += " (kill -9 of one worker mid-run)"
        lines.append(
            f"| {who} | {p['clients']} | {p.get('existing_votes', '–'):,} | {p['per_s']} | "
            f"{p['p50_ms']} | {p['p99_ms']} | {p['n_errors']} | {p['server_cpu_ms']} | "
            f"{p['postgres_cpu_ms']} | {p['generator_cpu_ms']} | {_share(p)} |"
            if isinstance(p.get("existing_votes"), int)
            else f"| {who} | {p['clients']} | – | {p['per_s']} | {p['p50_ms']} | {p['p99_ms']} | "
            f"{p['n_errors']} | {p['server_cpu_ms']} | {p['postgres_cpu_ms']} | "
            f"{p['generator_cpu_ms']} | {_share(p)} |"
        )
    by = {
        (p["mode"], p.get("study"), p["clients"], bool(p.get("killed_pid"))): p
        for p in result["points"]
    }
    lines.extend(_against_minimal(by))
    for n in (16, 64, 256):
        empty, voted = (
            by.get(("project", "empty", n, False)),
            by.get(("project", "voted", n, False)),
        )
        if empty and voted and empty["per_s"]:
            lines.append(
                f"at {n} annotators: study with {voted['existing_votes']:,} votes / empty study = "
                f"{voted['per_s'] / empty['per_s']:.2f}"
            )
    again = [p for p in result["points"] if p.get("uneven_retries")]
    if again:
        lines.append(
            f"measured again after an uneven split of the connections between the workers: "
            f"{len(again)} point(s), {sum(p['uneven_retries'] for p in again)} discarded tries"
        )
    waits = [point.get("settled_s", 0.0) for point in result["points"]]
    if waits:
        lines.append(
            f"waited for idle CPUs (90 % over 1 s) before each point: {min(waits)}-{max(waits)} s"
        )
    lines.append(f"exactly once after the kill: {json.dumps(result['exactly_once'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12, help="measured seconds per point")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--warmup", type=float, default=3, help="unmeasured seconds before each point"
    )
    parser.add_argument("--existing-votes", type=int, default=200_000)
    parser.add_argument("--concurrency", default="16,64,256")
    parser.add_argument("--no-minimal", action="store_true")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure the minimal endpoint making a vote's round trips (FLOOR_ENV)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw result too")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        print(json.dumps(asyncio.run(generate(json.load(sys.stdin)))))
        return 0
    result = run_suite(
        seconds=args.seconds,
        workers=args.workers,
        warmup=args.warmup,
        concurrency=tuple(int(n) for n in args.concurrency.split(",")),
        existing_votes=args.existing_votes,
        minimal=not args.no_minimal,
        floor=args.floor,
    )
    print(report(result))
    if args.json:
        print(json.dumps(result, indent=2))
    check = result["exactly_once"]
    ok = check["lost"] == check["changed"] == check["duplicates"] == check["overfilled_items"] == 0
    ok = ok and check["item_twice_to_one_annotator"] == 0
    print("exactly-once: OK" if ok else "exactly-once: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
