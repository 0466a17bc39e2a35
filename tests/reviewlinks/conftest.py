"""Fixtures shared by the review link tests of this folder."""

from tests.reviewlinks.test_link_decisions import waiting  # noqa: F401 (a fixture)
