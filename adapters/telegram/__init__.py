"""The Telegram adapter: python-telegram-bot (pinned in pyproject) speaking to the core."""

from adapters.telegram.adapter import TelegramAdapter, create_adapter

__all__ = ["TelegramAdapter", "create_adapter"]
