"""The quality–diversity sweep: one family of generators, one swept sampling setting.

The seeds' central trade-off is guidance scale (or truncation, or steps) against quality and
diversity: more guidance, higher precision and human preference up to a point, lower recall and
coverage. Generators registered with the same `family` and a `family_setting` are that sweep;
per family this assembles, for each setting value, FID, precision, recall, density, coverage,
CLIP score and the human score with their 95% intervals — from the leaderboard rows, so the
plot, the page, the JSON and the report show the same numbers.
"""

from __future__ import annotations

from typing import Any

SWEEP_METRICS = ("fid", "precision", "recall", "density", "coverage", "clip_score")
SETTING_LABELS = {
    "guidance_scale": "guidance scale",
    "truncation": "truncation ψ",
    "steps": "sampling steps",
}


def _point(cell: dict[str, Any]) -> dict[str, Any]:
    ok = cell.get("state") == "ok" and cell.get("value") is not None
    return {
        "value": cell.get("value") if ok else None,
        "ci_low": cell.get("ci_low") if ok else None,
        "ci_high": cell.get("ci_high") if ok else None,
        "note": None if ok else (cell.get("note") or "not computed"),
    }


def _human(row: dict[str, Any]) -> dict[str, Any]:
    human = row["human"]
    if human.get("bt") is not None:
        return {
            "value": human["bt"],
            "ci_low": human.get("bt_ci_low"),
            "ci_high": human.get("bt_ci_high"),
            "label": "Bradley–Terry rating",
            "note": None,
        }
    if human.get("mos") is not None:
        return {
            "value": human["mos"],
            "ci_low": human.get("mos_ci_low"),
            "ci_high": human.get("mos_ci_high"),
            "label": "mean opinion score",
            "note": None,
        }
    return {"value": None, "ci_low": None, "ci_high": None, "label": None, "note": "no votes"}


def quality_diversity_families(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per family (by name): the swept setting and, per member sorted by it, the metrics and
    the human score with intervals. Members without a value of the setting are listed last
    with a warning (they cannot be placed on the axis)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        family = row["settings"].get("family")
        if family:
            groups.setdefault(family, []).append(row)
    families = []
    for name in sorted(groups):
        members = groups[name]
        settings = {m["settings"].get("family_setting") for m in members} - {None}
        setting = sorted(settings)[0] if settings else None
        warnings = []
        if len(settings) > 1:
            warnings.append(
                f"members declare different swept settings ({', '.join(sorted(settings))}); "
                f"plotted against {setting}"
            )
        if setting is None:
            warnings.append("no swept setting declared (family_setting): nothing to plot against")
        points = []
        for row in members:
            x = row["settings"].get(setting) if setting else None
            if x is None and setting:
                warnings.append(f"{row['generator']} has no {setting} registered")
            points.append(
                {
                    "generator": row["generator"],
                    "setting": x,
                    "metrics": {m: _point(row["metrics"][m]) for m in SWEEP_METRICS},
                    "human": _human(row),
                }
            )
        points.sort(key=lambda p: (p["setting"] is None, p["setting"] or 0, p["generator"]))
        families.append(
            {
                "family": name,
                "setting": setting,
                "setting_label": SETTING_LABELS.get(setting, setting or "setting"),
                "points": points,
                "warnings": warnings,
            }
        )
    return families
