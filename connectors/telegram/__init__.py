"""Telegram: a bot account polled with getUpdates or pushed to by webhook, via python-telegram-bot."""

from .connector import TelegramConnector

__all__ = ["TelegramConnector"]
