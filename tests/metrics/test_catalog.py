"""The metric catalog is the one list: the metrics job yields exactly its metrics, and every
consumer's table (labels, digits, report pillars, CLI families) covers each of them."""

from __future__ import annotations

from app.metrics import catalog
from app.metrics.prdc import PRDC_NAMES


def test_every_spec_is_complete_and_unique():
    names = [spec.name for spec in catalog.CATALOG]
    assert len(names) == len(set(names)) == len(catalog.METRICS)
    assert len({spec.label for spec in catalog.CATALOG}) == len(names)
    assert all(spec.pillar in ("quality", "adherence") for spec in catalog.CATALOG)
    assert set(catalog.pillar("quality")) | set(catalog.pillar("adherence")) == set(names)
    assert catalog.family("prdc") == PRDC_NAMES
    assert catalog.SPECS["fid"].direction == "asc" and catalog.SPECS["clip_score"].arrow == "↑"


def test_the_metrics_job_yields_exactly_the_catalog():
    from workers.metric_job import MetricInputs, Side, evaluate

    missing = Side(unavailable="no weights")
    rows = evaluate(
        MetricInputs(
            gen_inception=missing,
            ref_inception=missing,
            gen_clip=missing,
            ref_clip=missing,
            prompt_ids=["p"],
            prompt_texts=["a cat"],
            seed=1,
            gen_logits=missing,
            gen_dino=missing,
            ref_dino=missing,
        )
    )
    assert sorted(row["metric"] for row in rows) == sorted(catalog.METRICS)
    inception = {row["metric"] for row in rows if "preprocessing_mode" in row["parameters"]}
    assert inception == catalog.INCEPTION_METRICS  # labelled with the preprocessing mode
    assert all(row["status"] == "unavailable" for row in rows)


def test_formatting_and_the_cli_read_the_catalog():
    from app.cli.metrics_report import FAMILIES
    from app.reports.format import DIGITS

    assert all(DIGITS[name] == spec.digits for name, spec in catalog.SPECS.items())
    families = {spec.family for spec in catalog.CATALOG}
    assert set(FAMILIES) <= families
