"""Request dependencies shared by the JSON API (app/api) and the HTML pages (app/web).

Both import this package and never each other (an import-linter contract). Everything here is
resolved at most once per request: FastAPI caches a dependency's value for the request, and the
identity objects (Reader, Visitor) remember what they looked up. What they read from `app.state`
(the cookie signers, the rate limiter, the leaderboard cache) is built in `create_app`.

common.py      settings, media store
admin.py       the admin key of a JSON API request (Authorization: Bearer)
researcher.py  who reads a researcher page: the researcher cookie or a Bearer key, its CSRF token
annotator.py   the annotator behind the study-scoped session cookie, and their CSRF token
limits.py      request rate limits (the `limits` library) and the limiter dependency
leaderboard.py the reader options, a cached board, an export as a download
"""
