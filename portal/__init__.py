"""The public help center: the knowledge base's articles as server-rendered pages, per language,
searched with the help-center bot's own retrieval. No login, no cookies."""
