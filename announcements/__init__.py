"""Announcements: marketing posts published from the support accounts, their approval and
scheduling, Telegram broadcast subscribers, and incident mode (see DESIGN.md)."""
