"""Vote-path load and crash durability against a real `arena serve` on PostgreSQL (loopback only).

N concurrent annotators (threads, one httpx client each, with their own cookie) open their invite,
accept the instructions and answer tasks through the same HTML/htmx endpoints a browser uses.
Prints votes/s and p50/p99 latency of the vote POSTs. With --kill-after K the server is killed
with SIGKILL once K votes were acknowledged, restarted, and the clients carry on (re-sending the
answer whose response they lost). At the end every acknowledged vote must be stored exactly once
with the acknowledged answer, and no item may have more than raters_per_item votes.

    python benchmarks/vote_load.py --annotators 200 --votes-per-annotator 10 --kill-after 500

Bounded: at most 1000 annotators, 100 votes each, and --max-seconds of wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import make_engine, make_session_factory
from app.migrate import upgrade
from app.models import Assignment, Vote
from app.settings import Settings

ADMIN_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHOICES = ("left", "right", "tie", "both_bad")
FIELD = re.compile(r'name="(csrf_token|assignment)" value="([^"]*)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fields(html: str) -> dict[str, str]:
    return dict(FIELD.findall(html))


class Server:
    """`arena serve` as a subprocess on 127.0.0.1, killable with SIGKILL and restartable."""

    def __init__(self, database_url: str, port: int, workdir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        arena = Path(sys.executable).parent / "arena"
        launcher = (
            [str(arena)]
            if arena.exists()
            else [sys.executable, "-c", "from app.cli.main import main; main()"]
        )
        self.command = [*launcher, "serve", "--host", "127.0.0.1", "--port", str(port)]
        self.env = {
            **os.environ,
            "ARENA_DATABASE_URL": database_url,
            "ARENA_SECRET_KEY": "vote-load-benchmark-secret",
            "ARENA_MEDIA_DIR": str(workdir / "media"),
            "ARENA_BASE_URL": self.url,
            # The load comes from one address: lift the per-IP limits for the benchmark only.
            "ARENA_VOTE_RATE_PER_IP": "1000000",
            "ARENA_INVITE_RATE_PER_IP": "1000000",
            "ARENA_VOTE_RATE_PER_ANNOTATOR": "1000000",
            "PYTHONPATH": str(ROOT),
        }
        self.log = open(workdir / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            self.command, env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"arena serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("arena serve did not answer /healthz in time")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass
class Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[str, str] = field(default_factory=dict)  # assignment → choice
    latencies: list[float] = field(default_factory=list)
    connection_errors: int = 0
    retries_after_crash: int = 0
    errors: list[str] = field(default_factory=list)
    server_up: threading.Event = field(default_factory=threading.Event)


def _request(shared: Shared, deadline: float, send):
    """Send, riding out a server crash: wait until it is back, then send the same thing again."""
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark time limit reached")
        try:
            return send()
        except (httpx.TransportError, httpx.RemoteProtocolError):
            with shared.lock:
                shared.connection_errors += 1
            shared.server_up.wait(timeout=max(0.1, deadline - time.monotonic()))
            time.sleep(0.05)


def annotate(
    server_url: str, invite: str, votes: int, seed: int, shared: Shared, deadline: float
) -> None:
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=server_url, timeout=30, follow_redirects=True) as client:
        page = _request(shared, deadline, lambda: client.get(invite.replace(server_url, "")))
        study_path = page.url.path
        consent = _fields(page.text)
        _request(
            shared,
            deadline,
            lambda: client.post(
                f"{study_path}/consent", data={"csrf_token": consent["csrf_token"]}
            ),
        )
        page = _request(shared, deadline, lambda: client.get(study_path))
        for _ in range(votes):
            fields = _fields(page.text)
            if "assignment" not in fields:
                return  # thank-you page: nothing left
            choice = CHOICES[int(rng.integers(4))]
            data = {
                **fields,
                "choice": choice,
                "client_ms": str(int(rng.integers(300, 3000))),
            }
            attempts = 0
            while True:
                attempts += 1
                started = time.perf_counter()
                try:
                    response = client.post(
                        f"{study_path}/vote", data=data, headers={"HX-Request": "true"}
                    )
                except (httpx.TransportError, httpx.RemoteProtocolError):
                    # The response was lost (server killed): the vote may or may not be stored.
                    # Re-sending the same answer is safe: it is idempotent.
                    with shared.lock:
                        shared.connection_errors += 1
                        shared.retries_after_crash += 1
                    shared.server_up.wait(timeout=max(0.1, deadline - time.monotonic()))
                    if time.monotonic() > deadline:
                        raise TimeoutError("benchmark time limit reached") from None
                    time.sleep(0.05)
                    continue
                elapsed = time.perf_counter() - started
                break
            if response.status_code != 200:
                with shared.lock:
                    shared.errors.append(f"{response.status_code}: {response.text[:200]}")
                return
            with shared.lock:
                shared.acknowledged[fields["assignment"]] = choice
                if attempts == 1:
                    shared.latencies.append(elapsed)
            page = response


def seed_study(
    database_url: str,
    annotators: int,
    votes: int,
    base_url: str,
    media_dir: Path,
    generators: int = 6,
):
    """A pairwise study with enough items for every annotator's votes, and the invites. Each
    image is a real 8x8 PNG in the media store: a task's images are rendered when it opens."""
    import hashlib
    import io

    from PIL import Image as PILImage

    from app.media import MediaStore
    from app.models import Batch, Generator, Image, Prompt, PromptSet
    from app.services.invites import create_invites
    from app.services.renditions import prepare_study
    from app.services.studies import StudyCreate, create_study, open_study

    store = MediaStore(media_dir)

    def tiny_png(gen_id: int, prompt_id: int) -> str:
        out = io.BytesIO()
        PILImage.new("RGB", (8, 8), (gen_id % 256, prompt_id % 256, 0)).save(out, format="PNG")
        data = out.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        store.put(None, sha, data, data)
        return sha

    raters = 3
    pairs = generators * (generators - 1) // 2
    prompts = math.ceil(annotators * votes / raters / pairs) + 2
    tag = uuid.uuid4().hex[:8]
    engine = make_engine(Settings(database_url=database_url))
    with make_session_factory(engine)() as session:
        prompt_set = PromptSet(name=f"load-{tag}")
        prompt_set.prompts = [
            Prompt(external_id=f"p{k}", text=f"load prompt {k}") for k in range(prompts)
        ]
        gens = [Generator(name=f"load-{tag}-{g}") for g in range(generators)]
        session.add_all([prompt_set, *gens])
        session.flush()
        for gen in gens:
            batch = Batch(generator_id=gen.id, n_images=prompts)
            session.add(batch)
            session.flush()
            session.add_all(
                Image(
                    generator_id=gen.id,
                    prompt_id=p.id,
                    batch_id=batch.id,
                    sha256=tiny_png(gen.id, p.id),
                    width=8,
                    height=8,
                    byte_size=1,
                    format="PNG",
                )
                for p in prompt_set.prompts
            )
        study = create_study(
            session,
            StudyCreate(
                name=f"load-{tag}",
                kind="pairwise",
                generators=[g.name for g in gens],
                prompt_set=prompt_set.name,
                raters_per_item=raters,
                attention_check_rate=0.0,
            ),
        )
        open_study(session, study)
        prepare_study(session, store, study)
        urls = [url for _a, url in create_invites(session, study, annotators, base_url)]
        session.commit()
        study_id = study.id
    engine.dispose()
    return study_id, urls, raters


def verify(database_url: str, study_id: int, acknowledged: dict[str, str], raters: int) -> dict:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(Assignment.public_id, Vote.choice)
                .join(Vote, Vote.assignment_id == Assignment.id)
                .where(Vote.study_id == study_id)
            ).all()
        )
        per_assignment = Counter(
            conn.execute(select(Vote.assignment_id).where(Vote.study_id == study_id)).scalars()
        )
        per_item = conn.execute(
            select(Assignment.item_key, func.count())
            .join(Vote, Vote.assignment_id == Assignment.id)
            .where(Vote.study_id == study_id)
            .group_by(Assignment.item_key)
        ).all()
    engine.dispose()
    lost = [a for a in acknowledged if a not in stored]
    changed = [a for a, choice in acknowledged.items() if a in stored and stored[a] != choice]
    return {
        "votes_stored": len(stored),
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "changed": len(changed),
        "duplicates": sum(n - 1 for n in per_assignment.values() if n > 1),
        "overfilled_items": sum(1 for _k, n in per_item if n > raters),
        # Stored but never acknowledged: the response died with the server and the client gave
        # up before re-sending. Allowed (at most the in-flight ones), never duplicated.
        "unacknowledged_stored": len(set(stored) - set(acknowledged)),
    }


def _throwaway_database() -> str:
    name = f"arena_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run(
    database_url: str | None = None,
    annotators: int = 200,
    votes_per_annotator: int = 10,
    kill_after: int | None = None,
    max_seconds: float = 300,
) -> dict:
    if not 1 <= annotators <= 1000 or not 1 <= votes_per_annotator <= 100:
        raise SystemExit("--annotators must be 1..1000 and --votes-per-annotator 1..100")
    own_database = database_url is None
    database_url = database_url or _throwaway_database()
    if not database_url.startswith("postgresql"):
        raise SystemExit("the load benchmark runs against PostgreSQL (a postgresql+psycopg:// URL)")
    workdir = Path(tempfile.mkdtemp(prefix="arena-vote-load-"))
    server = None
    try:
        upgrade(Settings(database_url=database_url))
        port = _free_port()
        study_id, invites, raters = seed_study(
            database_url,
            annotators,
            votes_per_annotator,
            f"http://127.0.0.1:{port}",
            workdir / "media",
        )
        server = Server(database_url, port, workdir)
        server.start()
        shared = Shared()
        shared.server_up.set()
        deadline = time.monotonic() + max_seconds
        threads = [
            threading.Thread(
                target=annotate,
                args=(server.url, url, votes_per_annotator, k, shared, deadline),
                daemon=True,
            )
            for k, url in enumerate(invites)
        ]
        killed = {"at_votes": None, "downtime_s": None}

        def killer() -> None:
            while time.monotonic() < deadline:
                with shared.lock:
                    done = len(shared.acknowledged)
                if done >= kill_after:
                    shared.server_up.clear()
                    stopped = time.monotonic()
                    server.kill()
                    killed["at_votes"] = done
                    server.start()
                    killed["downtime_s"] = round(time.monotonic() - stopped, 2)
                    shared.server_up.set()
                    return
                time.sleep(0.005)

        started = time.perf_counter()
        for thread in threads:
            thread.start()
        killer_thread = None
        if kill_after is not None:
            killer_thread = threading.Thread(target=killer, daemon=True)
            killer_thread.start()
        for thread in threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        elapsed = time.perf_counter() - started
        if killer_thread is not None:
            killer_thread.join(timeout=60)
        latencies = np.array(shared.latencies) * 1000
        result = {
            "annotators": annotators,
            "votes_per_annotator": votes_per_annotator,
            "seconds": round(elapsed, 2),
            "votes_per_s": round(len(shared.acknowledged) / elapsed, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 1) if len(latencies) else None,
            "killed_at_votes": killed["at_votes"],
            "restart_downtime_s": killed["downtime_s"],
            "connection_errors": shared.connection_errors,
            "resent_after_crash": shared.retries_after_crash,
            "client_errors": shared.errors[:5],
            "unfinished_clients": sum(t.is_alive() for t in threads),
            **verify(database_url, study_id, shared.acknowledged, raters),
        }
        return result
    finally:
        if server is not None:
            server.stop()
        if own_database:
            _drop_database(database_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="migrated or empty PostgreSQL database (default: a throw-away one on 127.0.0.1:5432)",
    )
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--votes-per-annotator", type=int, default=10)
    parser.add_argument(
        "--kill-after",
        type=int,
        help="SIGKILL the server after this many acknowledged votes",
    )
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args(argv)
    result = run(
        args.database_url,
        args.annotators,
        args.votes_per_annotator,
        args.kill_after,
        args.max_seconds,
    )
    print(json.dumps(result, indent=2))
    ok = (
        result["lost"]
        == result["changed"]
        == result["duplicates"]
        == result["overfilled_items"]
        == 0
        and not result["client_errors"]
        and result["unfinished_clients"] == 0
    )
    print("durability: OK" if ok else "durability: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
