"""Fitting an export into a platform's upload limit: zip it, or say why it cannot be sent.

Adapters know their limit (Discord's comes with each interaction, Telegram's is 50 MB for a
bot) and call `fit_reply` (or `fit_attachment`) before uploading. Text exports shrink five to
twenty times when zipped; ZIP rather than gzip because every desktop opens it with a
double click. Compression runs in a worker thread (zlib releases the GIL), so the event loop
goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import replace

from bot import render
from bot.commands import Attachment, Reply
from bot.errors import UserError

ZIP_LEVEL = 6


def _zip(attachment: Attachment) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=ZIP_LEVEL) as archive:
        archive.writestr(attachment.filename, attachment.data)
    return buffer.getvalue()


async def fit_attachment(attachment: Attachment, limit_bytes: int) -> Attachment | UserError:
    """Return the attachment as it is when it fits, zipped when that fits, else a UserError.

    A zipped attachment is named `<filename>.zip` and holds the file under its own name.
    """
    if len(attachment.data) <= limit_bytes:
        return attachment
    zipped = await asyncio.to_thread(_zip, attachment)
    if len(zipped) <= limit_bytes:
        return Attachment(attachment.filename + ".zip", zipped)
    return UserError("export_too_large", filename=attachment.filename,
                     size=len(attachment.data), zipped=len(zipped), limit=limit_bytes)


async def fit_reply(reply: Reply, limit_bytes: int) -> Reply:
    """Return a reply whose attachment fits `limit_bytes`, saying so when it had to be zipped.

    When even the zipped file is too large the reply carries no file, and its message says
    how big it was and what to do instead.
    """
    if reply.attachment is None:
        return reply
    fitted = await fit_attachment(reply.attachment, limit_bytes)
    if isinstance(fitted, UserError):
        return Reply(render.error(fitted), private=reply.private)
    if fitted is reply.attachment:
        return reply
    note = render.export_zipped(len(reply.attachment.data), len(fitted.data), limit_bytes)
    message = replace(reply.message, spans=(*reply.message.spans, *note.spans))
    return Reply(message, private=reply.private, attachment=fitted)
