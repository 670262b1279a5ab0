"""Researcher-facing outputs: plots, leaderboard exports and the evaluation report."""
