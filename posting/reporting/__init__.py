"""Reporting: the history list, the charts and the health of each workspace (the overview)."""
