"""The leaderboard of a study: the board (human ratings next to automatic metrics), the human
summary, the metric cells, the quality-diversity sweep, stored snapshots and the cache that
serves them. Read by the web pages, the JSON API, the figures, the exports and the report."""
