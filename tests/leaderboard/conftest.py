"""The services' database session fixtures, shared by the leaderboard tests."""

from tests.services.conftest import factory, session  # noqa: F401
