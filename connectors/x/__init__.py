"""X (Twitter) connector: API v2 through tweepy, Account Activity webhooks, and an emulator."""
