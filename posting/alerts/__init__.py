"""Alerts: what raises one (rules), how it reads (display), the inbox, emails and webhooks."""
