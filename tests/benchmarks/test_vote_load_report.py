"""benchmarks/vote_load.py's report: the comparison with the minimal endpoint, by throughput
and by CPU per request, read off the measured points (no server runs here)."""

from __future__ import annotations

from tests.benchmarks.test_vote_load import _load


def _point(mode: str, clients: int, per_s: float, cpu: tuple[float, float, float], **extra):
    server, postgres, generator = cpu
    return {
        "mode": mode,
        "clients": clients,
        "per_s": per_s,
        "p50_ms": 10.0,
        "p99_ms": 20.0,
        "n_errors": 0,
        "server_cpu_ms": server,
        "postgres_cpu_ms": postgres,
        "generator_cpu_ms": generator,
        **extra,
    }


def _result(points: list[dict]) -> dict:
    return {
        "date": "2026-12-06 03:00 UTC",
        "workers": 2,
        "seconds_per_point": 12.0,
        "warmup_seconds": 3.0,
        "cpus": 2,
        "load_average": (0.1, 0.2, 0.3),
        "items_per_study": 300,
        "seed_s": 1.0,
        "statements_per_cycle": {"median": 3, "max": 3, "postgres_cpu_us": {}},
        "points": points,
        "exactly_once": {"lost": 0},
    }


def test_the_report_compares_throughput_and_cpu_per_request_with_the_minimal_endpoint():
    module = _load()
    text = module.report(
        _result(
            [
                _point("project", 16, 500.0, (2.25, 1.25, 0.1), study="empty", existing_votes=0),
                _point("project", 16, 450.0, (2.5, 1.3, 0.1), study="voted", existing_votes=9),
                _point("project", 64, 480.0, (2.0, 1.0, 0.1), study="empty", existing_votes=0),
                _point("minimal", 16, 1000.0, (1.1, 0.2, 0.1)),
                _point("minimal", 64, 900.0, (1.0, 0.2, 0.1)),
                _point("floor", 16, 700.0, (1.7, 0.4, 0.1), busiest_worker_pct=75),
            ]
        )
    )
    assert "at 16 annotators: project / minimal endpoint = 0.50 (target 0.6)" in text
    # (2.25 + 1.25 + 0.1) / (1.1 + 0.2 + 0.1) = 3.6 / 1.4
    assert (
        "at 16 annotators: CPU per request (server + PostgreSQL + generator) 3.60 ms for a vote, "
        "1.40 ms for the minimal endpoint = 2.57× (with the CPUs the limit, 0.6 of its "
        "throughput needs at most 1.67×)"
    ) in text
    # The floor: the minimal endpoint making a vote's round trips; 2.2 ms, 1.4 ms below the vote.
    assert (
        "at 16 annotators: the floor (the minimal endpoint making a vote's round trips, none of "
        "its work) = 0.70 of the minimal endpoint's throughput, 2.20 ms CPU per request = 1.57×; "
        "the vote's own work on top of it 1.40 ms"
    ) in text
    assert "| floor: one-INSERT + a vote's round trips | 16 | – | 700.0 |" in text
    # How the connections split between the two workers: 75 % of the server's CPU in one.
    assert "| 1.7 | 0.4 | 0.1 | 75 % |" in text
    assert "| 1.1 | 0.2 | 0.1 | – |" in text  # not measured
    assert "at 16 annotators: study with 9 votes / empty study = 0.90" in text
    assert "at 64 annotators: project / minimal" not in text


def test_without_postgresql_cpu_the_cpu_comparison_is_left_out():
    """PostgreSQL on another machine: its CPU is not measured, so a CPU ratio would mislead."""
    module = _load()
    text = module.report(
        _result(
            [
                _point("project", 6, 300.0, (2.0, 0.0, 0.1), study="empty", existing_votes=0),
                _point("minimal", 6, 600.0, (1.0, 0.0, 0.1)),
            ]
        )
    )
    assert "at 6 annotators: project / minimal endpoint = 0.50 (target 0.6)\n" in text
    assert "CPU per request" not in text


def test_a_ratio_over_unevenly_split_connections_is_flagged():
    """16 keep-alive connections the kernel gave 12 to one worker: that worker's GIL caps the
    endpoint while CPUs idle, and the ratio would flatter the project."""
    module = _load()
    text = module.report(
        _result(
            [
                _point("project", 16, 500.0, (2.2, 1.2, 0.1), study="empty", busiest_worker_pct=52),
                _point("minimal", 16, 720.0, (1.4, 0.2, 0.1), busiest_worker_pct=74),
            ]
        )
    )
    assert (
        "at 16 annotators: project / minimal endpoint = 0.69 (target 0.6); uneven connections "
        "(the minimal endpoint's busiest worker did 74 % of its CPU): not comparable, run it again"
    ) in text


def _generator(module, monkeypatch, shares: list):
    """run_generator replaced: each try returns the next share, with one acknowledged vote."""
    tries = iter(shares)
    calls = []

    def fake(job: dict) -> dict:
        calls.append(job)
        share = next(tries)
        return {
            "busiest_worker_pct": share,
            "per_s": 1.0,
            "acknowledged": {f"a{len(calls)}": "left"},
        }

    monkeypatch.setattr(module, "run_generator", fake)
    return calls


def test_a_point_over_unevenly_split_connections_is_measured_again(monkeypatch):
    module = _load()
    calls = _generator(module, monkeypatch, [100, 52])
    jobs = iter([{"try": 1}, {"try": 2}])
    point = module.measure(lambda: next(jobs))
    assert [job["try"] for job in calls] == [1, 2]  # a new job (new annotators) per try
    assert point["busiest_worker_pct"] == 52 and point["uneven_retries"] == 1
    # The discarded try's votes were stored: they are still checked after the kill.
    assert point["acknowledged"] == {"a1": "left", "a2": "left"}


def test_a_point_is_measured_again_at_most_twice(monkeypatch):
    module = _load()
    calls = _generator(module, monkeypatch, [100, 90, 80, 50])
    point = module.measure(dict)
    assert len(calls) == 3 and point["busiest_worker_pct"] == 80 and point["uneven_retries"] == 2


def test_a_point_with_a_kill_or_even_connections_is_measured_once(monkeypatch):
    module = _load()
    calls = _generator(module, monkeypatch, [96, 55, None])
    assert module.measure(lambda: {"kill_after": 6.0})["uneven_retries"] == 0
    assert module.measure(dict)["uneven_retries"] == 0
    assert module.measure(dict)["uneven_retries"] == 0  # not measured (no server CPU)
    assert len(calls) == 3


def test_the_report_counts_the_points_measured_again():
    module = _load()
    text = module.report(
        _result(
            [
                _point("project", 16, 500.0, (2.2, 1.2, 0.1), study="empty", uneven_retries=1),
                _point("minimal", 16, 1000.0, (1.1, 0.2, 0.1), uneven_retries=2),
                _point("minimal", 64, 1000.0, (1.1, 0.2, 0.1), uneven_retries=0),
            ]
        )
    )
    assert (
        "measured again after an uneven split of the connections between the workers: "
        "2 point(s), 3 discarded tries"
    ) in text
