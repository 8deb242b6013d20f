"""The record: conversations archived from Redis to SQL (SQLite or PostgreSQL), searched, read back,
kept for as long as the retention settings say and erased on request."""
