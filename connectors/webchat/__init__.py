"""The web chat: a widget on the company's site, served and spoken to by Helpline itself."""

from .connector import WebchatConnector

__all__ = ["WebchatConnector"]
