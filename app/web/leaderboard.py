"""The leaderboard page for researchers, server-rendered and readable without JavaScript.

/studies/{public_id}/leaderboard            the page (sort, dir, exclusions, reference_set in the query)
/studies/{public_id}/leaderboard/board      the table and status alone (htmx refresh while jobs run)
/studies/{public_id}/leaderboard/plots/N.svg  one figure (ratings, win-rate, precision-recall, mos, flags)
/studies/{public_id}/leaderboard/samples/G.svg  a grid of generator G's images in this study
/studies/{public_id}/leaderboard/export     the exports (what=votes|leaderboard|metrics, format=)
/studies/{public_id}/leaderboard/annotators/H/exclusion  (POST) exclude or reinstate annotator H

Researchers (signed in, or with a Bearer key) read every study. Anyone else reads a public
study's pages only once it is closed (app/services/public_results.py), without the generators'
uploaded resolutions and without any image an open study serves.

Columns sort on the server through plain links; the numbers come from the cached Leaderboard the
JSON API and the exports also read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.deps.leaderboard import cached_leaderboard, export_response, options_from
from app.deps.researcher import Reader, ReaderDep
from app.errors import Forbidden, NotFound
from app.leaderboard.board import Leaderboard
from app.metrics.catalog import CATALOG, LOWER_IS_BETTER, METRIC_LABELS, METRICS
from app.models import Study
from app.models.enums import StudyKind
from app.reports import figures
from app.reports import format as fmt
from app.services.overview import sample_images
from app.services.public_results import images_open_studies_serve, public_leaderboard
from app.services.studies.exclusions import set_override
from app.services.studies.hot_path import bind_key
from app.services.studies.study import get_study
from app.web.errors import RESEARCHER_PAGES
from app.web.sign_in import safe_next
from app.web.templating import RESEARCHER_PAGE_HEADERS as PAGE_HEADERS
from app.web.templating import templates

router = APIRouter(include_in_schema=False)
# The pages answer errors with the error page (401: sign in first); the figures, sample grids
# and exports answer them as JSON, like the API.
PAGES = [Depends(RESEARCHER_PAGES)]
templates.env.filters.setdefault("num", fmt.number)

# SVG opened directly is a document: no scripts, no outside fetches; matplotlib's inline styles only.
SVG_HEADERS = {
    "Cache-Control": "private, max-age=60",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}
REFRESH_SECONDS = 5


# ----------------------------------------------------------------------------- columns


def _columns(lb: Leaderboard) -> list[dict[str, Any]]:
    """Sortable columns: key, header, default direction (best first), how to read the value."""
    kind = lb.study["kind"]
    cols: list[dict[str, Any]] = [
        {"key": "position", "label": "#", "dir": "asc", "group": "human"},
        {"key": "generator", "label": "generator", "dir": "asc", "group": "human"},
    ]
    if kind == StudyKind.pairwise:
        cols += [
            {
                "key": "bt",
                "label": "BT rating [95% CI]",
                "dir": "desc",
                "group": "human",
            },
            {"key": "rank", "label": "rank range", "dir": "asc", "group": "human"},
            {"key": "elo", "label": "Elo", "dir": "desc", "group": "human"},
            {"key": "win_rate", "label": "win rate", "dir": "desc", "group": "human"},
            {"key": "ties", "label": "tie / both bad", "dir": "asc", "group": "human"},
        ]
    if kind == StudyKind.rating:
        cols.append({"key": "mos", "label": "MOS [95% CI]", "dir": "desc", "group": "human"})
    if kind == StudyKind.flag:
        for mode in lb.study["flag_options"]:
            cols.append({"key": f"flag:{mode}", "label": mode, "dir": "asc", "group": "flags"})
        cols.append({"key": "flag:any", "label": "any flag", "dir": "asc", "group": "flags"})
    cols.append({"key": "votes", "label": "votes", "dir": "desc", "group": "human"})
    for spec in CATALOG:
        cols.append(
            {
                "key": spec.name,
                "label": f"{spec.label} {spec.arrow}",
                "dir": spec.direction,
                "group": "metrics",
            }
        )
    return cols


def _sort_value(row: dict[str, Any], key: str) -> Any:
    human = row["human"]
    if key == "position":
        return row["position"]
    if key == "generator":
        return row["generator"].lower()
    if key.startswith("flag:"):
        return (human.get("flag_rates") or {}).get(key[5:], {}).get("rate")
    if key in METRICS:
        cell = row["metrics"][key]
        return cell["value"] if cell["state"] == "ok" else None
    if key == "ties":
        return human.get("tie_rate")
    return human.get(key)


def sorted_rows(lb: Leaderboard, key: str, direction: str) -> list[dict[str, Any]]:
    """Rows by one column; rows without a value go last whichever the direction."""
    present = [r for r in lb.rows if _sort_value(r, key) is not None]
    absent = [r for r in lb.rows if _sort_value(r, key) is None]
    present.sort(key=lambda r: (_sort_value(r, key), r["position"]), reverse=direction == "desc")
    return present + sorted(absent, key=lambda r: r["position"])


# ----------------------------------------------------------------------------- rendering


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _query(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _context(
    request: Request,
    session: Session,
    reader: Reader,
    study: Study,
    sort: str,
    direction: str | None,
    exclusions: str,
    reference_set: str | None,
    control: str | None = None,
    anchor: str | None = None,
    aspect: str | None = None,
) -> dict[str, Any]:
    options = options_from(exclusions, reference_set, control, anchor, aspect)
    lb = cached_leaderboard(request, session, study, options)
    aspect = lb.options.get("aspect")
    researcher_view = reader.researcher is not None
    if not researcher_view:
        lb = public_leaderboard(lb)
    columns = _columns(lb)
    by_key = {c["key"]: c for c in columns}
    if sort not in by_key:
        sort = "position"
    column = by_key[sort]
    direction = direction if direction in ("asc", "desc") else column["dir"]
    base = f"/studies/{study.public_id}/leaderboard"
    ref = str(lb.reference_set["id"]) if lb.reference_set else None
    state = {
        "exclusions": exclusions,
        "reference_set": reference_set,
        "control": control,
        "anchor": anchor,
        "aspect": aspect,
    }
    for c in columns:
        # Clicking the current column flips it; another column starts with its best-first order.
        flip = "desc" if direction == "asc" else "asc"
        c["href"] = (
            f"{base}?{_query(sort=c['key'], dir=flip if c['key'] == sort else c['dir'], **state)}"
        )
        c["aria"] = (
            ("ascending" if direction == "asc" else "descending") if c["key"] == sort else None
        )
    plot_query = _query(exclusions=exclusions, reference_set=ref, anchor=anchor, aspect=aspect)
    # The aspect switch: the same view of each aspect's votes (aria-current on the one shown).
    aspect_links = [
        {
            "key": a["key"],
            "question": a["question"],
            "href": f"{base}?{_query(sort=sort, dir=direction, **{**state, 'aspect': a['key']})}",
            "current": a["key"] == aspect,
        }
        for a in lb.study.get("aspects") or []
    ]
    notes, marks = fmt.table_notes(lb.rows)
    kind = lb.study["kind"]
    ci = (
        fmt.ci_bars(lb.rows, "bt", "bt_ci_low", "bt_ci_high")
        if kind == StudyKind.pairwise
        else fmt.ci_bars(lb.rows, "mos", "mos_ci_low", "mos_ci_high")
        if kind == StudyKind.rating
        else {}
    )
    plots = []
    for name in figures.available_figures(lb):
        drawn = figures.figure(lb, name) is not None
        plots.append(
            {
                "name": name,
                "title": figures.TITLES[name],
                "alt": figures.describe(lb, name) if drawn else None,
                "empty": None if drawn else figures.empty_reason(lb, name),
            }
        )
    samples = None
    if researcher_view:
        samples = {g.id: sample_images(session, study, g.id) for g in study.generators}
    return {
        "samples": samples,
        "notes": notes,
        "marks": marks,
        "ci": ci,
        "plots": plots,
        "metric_notes": fmt.metric_notes(lb.rows, METRIC_LABELS),
        "no_votes_reason": figures.why_no_votes(lb.human),
        "lb": lb,
        "d": lb.to_dict(),
        "study": study,
        "rows": sorted_rows(lb, sort, direction),
        "columns": columns,
        "sort": sort,
        "direction": direction,
        "exclusions": exclusions,
        "fmt": fmt,
        "METRICS": METRICS,
        "METRIC_LABELS": METRIC_LABELS,
        "LOWER_IS_BETTER": LOWER_IS_BETTER,
        "base": base,
        "self_query": _query(sort=sort, dir=direction, **state),
        "toggle_href": f"{base}?{_query(sort=sort, dir=direction, exclusions='on' if exclusions == 'off' else 'off', reference_set=reference_set, aspect=aspect)}",
        "aspect": aspect,
        "aspect_links": aspect_links,
        "plot_query": plot_query,
        "figures": figures.available_figures(lb),
        "titles": figures.TITLES,
        "export_base": f"{base}/export",
        "export_query": _query(
            exclusions=exclusions, reference_set=ref, control=control, aspect=aspect
        ),
        "refresh_seconds": REFRESH_SECONDS,
        "human": lb.human,
        "agreement": lb.human.agreement,
        "signed_in": reader.signed_in,
        "researcher_view": researcher_view,
        "csrf_token": reader.csrf_token,
    }


def _study_for_reader(session: Session, reader: Reader, public_id: str) -> Study:
    study = get_study(session, public_id)
    if study.public_id != public_id:
        # Pages live under the opaque public id only (names and ids are for the API and CLI).
        raise NotFound("no such study")
    reader.ensure_can_read(study)
    return study


def _leaderboard_view(
    request: Request,
    session: Session,
    reader: Reader,
    public_id: str,
    template: str,
    sort: str,
    dir: str | None,
    exclusions: str,
    reference_set: str | None,
    control: list[str] | None = None,
    anchor: str | None = None,
    aspect: str | None = None,
) -> Response:
    """The whole page or the board alone (what the htmx refresh swaps in), same context."""
    # Checkboxes send control=a&control=b, links control=a,b: one comma-separated string.
    control = ",".join(control) if control else None
    study = _study_for_reader(session, reader, public_id)
    context = _context(
        request,
        session,
        reader,
        study,
        sort,
        dir,
        exclusions,
        reference_set,
        control,
        anchor or None,
        aspect or None,
    )
    return _render(request, template, context)


@router.get("/studies/{public_id}/leaderboard", name="leaderboard_page", dependencies=PAGES)
def leaderboard_page(
    public_id: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    sort: str = "position",
    dir: str | None = None,
    exclusions: str = Query("on", pattern="^(on|off)$"),
    reference_set: str | None = None,
    control: list[str] | None = Query(None, description="covariates to control for"),
    anchor: str | None = Query(None, description="generator held at 1000 in the trajectory"),
    aspect: str | None = Query(None, description="the aspect shown (default: the first)"),
) -> Response:
    return _leaderboard_view(
        request,
        session,
        reader,
        public_id,
        "leaderboard/page.html",
        sort,
        dir,
        exclusions,
        reference_set,
        control,
        anchor,
        aspect,
    )


@router.get("/studies/{public_id}/leaderboard/board", dependencies=PAGES)
def leaderboard_board(
    public_id: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    sort: str = "position",
    dir: str | None = None,
    exclusions: str = Query("on", pattern="^(on|off)$"),
    reference_set: str | None = None,
    control: list[str] | None = Query(None),
    anchor: str | None = None,
    aspect: str | None = None,
) -> Response:
    """The table and its status line alone: what the htmx refresh swaps in."""
    return _leaderboard_view(
        request,
        session,
        reader,
        public_id,
        "leaderboard/_board.html",
        sort,
        dir,
        exclusions,
        reference_set,
        control,
        anchor,
        aspect,
    )


def _svg(svg: str | None, what: str) -> Response:
    if svg is None:
        raise NotFound(f"nothing to plot yet: {what}")
    return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)


@router.get("/studies/{public_id}/leaderboard/plots/{name}.svg")
def plot(
    public_id: str,
    name: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    exclusions: str = Query("on", pattern="^(on|off)$"),
    reference_set: str | None = None,
    anchor: str | None = None,
    aspect: str | None = None,
) -> Response:
    if name not in figures.FIGURES:
        raise NotFound(f"no figure {name!r}; figures: {', '.join(figures.FIGURES)}")
    study = _study_for_reader(session, reader, public_id)
    options = options_from(exclusions, reference_set, anchor=anchor, aspect=aspect)
    lb = cached_leaderboard(request, session, study, options)
    return _svg(figures.figure(lb, name), figures.TITLES[name])


@router.get("/studies/{public_id}/leaderboard/samples/{generator_id}.svg")
def samples(
    public_id: str, generator_id: int, request: Request, session: SessionDep, reader: ReaderDep
) -> Response:
    """A grid of the generator's images in this study's own pool; for readers without a
    sign-in, never an image an open study serves (it would unblind that study's annotators)."""
    study = _study_for_reader(session, reader, public_id)
    names = {g.id: g.name for g in study.generators}
    if generator_id not in names:
        raise NotFound("no such generator in this study")
    exclude = set() if reader.researcher else images_open_studies_serve(session)
    ids = figures.sample_image_ids(session, study.id, generator_id, exclude=exclude)
    cache = request.app.state.sample_grids  # built in create_app
    key = (bind_key(session), study.id, generator_id, tuple(ids))
    if key not in cache:
        cache[key] = figures.sample_grid(
            session,
            request.app.state.media,
            study.id,
            generator_id,
            names[generator_id],
            exclude=exclude,
        )
    return _svg(cache[key], f"{names[generator_id]} has no images that can be shown here")


@router.get("/studies/{public_id}/leaderboard/export")
def export(
    public_id: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    what: str = Query(..., description="votes, leaderboard or metrics"),
    format: str = Query(
        "csv", description="votes: csv or jsonl; leaderboard, metrics: csv or json"
    ),
    exclusions: str = Query("on", pattern="^(on|off)$"),
    reference_set: str | None = None,
    control: str | None = None,
    aspect: str | None = None,
) -> Response:
    """The page's exports, for whoever may read the page (the API needs an admin key)."""
    study = _study_for_reader(session, reader, public_id)
    public = reader.researcher is None
    return export_response(
        request,
        session,
        study,
        what,
        format,
        exclusions,
        reference_set,
        public=public,
        control=control,
        aspect=aspect,
    )


@router.post("/studies/{public_id}/leaderboard/annotators/{handle}/exclusion", dependencies=PAGES)
def set_exclusion(
    public_id: str,
    handle: str,
    request: Request,
    session: SessionDep,
    reader: ReaderDep,
    action: str = Form(""),
    csrf_token: str = Form(""),
    back: str = Form(""),
) -> Response:
    """A signed-in researcher excludes or reinstates an annotator (or lets the rule decide)."""
    study = _study_for_reader(session, reader, public_id)
    reader.ensure_researcher()
    if not reader.csrf_ok(csrf_token):
        raise Forbidden("stale form: reload the leaderboard and try again")
    set_override(session, study, handle, action)
    query = back if back and "\n" not in back and not back.startswith(("/", "http")) else ""
    target = f"/studies/{study.public_id}/leaderboard" + (f"?{query}" if query else "")
    return RedirectResponse(safe_next(target), status_code=303)
