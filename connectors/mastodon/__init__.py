"""Mastodon connector: mentions and direct messages pulled from the notifications API, replies
posted as statuses with an `Idempotency-Key`, and an emulator of the REST API for tests.

The connector class is `connectors.mastodon.connector:MastodonConnector` (entry point "mastodon").
"""
