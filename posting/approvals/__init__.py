"""Approvals (issue 18): a post reviewed before it reaches Taisly. See ``services``."""
