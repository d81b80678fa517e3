"""The Discord adapter: `/watchparty` slash commands, buttons and modals on discord.py."""

from adapters.discord.adapter import DiscordAdapter, create_adapter, redirect

__all__ = ["DiscordAdapter", "create_adapter", "redirect"]
