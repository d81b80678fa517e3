"""The load benchmark's baseline bot: plain python-telegram-bot, no storage, no outbox.

PTB's own Updater polling with `concurrent_updates(256)`; each button press is answered at once
with `query.answer()`. Runs until SIGTERM. Environment: TELEGRAM_TOKEN, TELEGRAM_BASE_URL.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer("You're going")


def main() -> None:
    application = (ApplicationBuilder().token(os.environ["TELEGRAM_TOKEN"])
                   .base_url(os.environ["TELEGRAM_BASE_URL"]).concurrent_updates(256)
                   .job_queue(None).build())
    application.add_handler(CallbackQueryHandler(answer))
    application.run_polling(poll_interval=0.0, timeout=25, close_loop=False)


if __name__ == "__main__":
    main()
