"""Files upload v2, as slack_sdk's `WebClient.files_upload_v2` performs it.

1. `files.getUploadURLExternal(filename, length)` → `{"upload_url", "file_id"}`;
2. a POST of the bytes (raw, or multipart/form-data) to that URL, which this emulator serves
   (`/upload/v1/<ticket>`); it answers `200 OK - <length>` like Slack's upload host;
3. `files.completeUploadExternal(files=[{"id", "title"}], channel_id | channels, initial_comment,
   thread_ts, blocks)` shares the files: one message carrying every file appears in the channel
   (a thread reply with `thread_ts`), as in Slack. Without a channel the file stays private.

`files.info` answers for a completed file, and its `url_private` can be downloaded with the bot
token (`Authorization: Bearer`), as Slack requires.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import mimetypes
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .state import ApiError, Channel, Team, random_id

if TYPE_CHECKING:
    from .emulator import SlackEmulator

# Slack's upload host keeps a URL usable for a while; a test may shorten it.
UPLOAD_URL_TTL = 10 * 60


@dataclass
class UploadedFile:
    id: str
    team_id: str
    user_id: str
    filename: str
    length: int  # what files.getUploadURLExternal was told
    created: float
    alt_txt: str | None = None
    snippet_type: str | None = None
    ticket: str = ""
    content: bytes | None = None  # None until the bytes are POSTed to the upload URL
    title: str | None = None
    completed: bool = False
    # Where it was shared: channel id -> ts of the message that carries it.
    shares: dict[str, str] = field(default_factory=dict)
    thread_ts: str | None = None
    initial_comment: str | None = None

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    @property
    def filetype(self) -> str:
        _, dot, extension = self.filename.rpartition(".")
        return extension.lower() if dot and extension else "binary"

    def image_size(self) -> tuple[int, int] | None:
        """Width and height of a PNG (from its IHDR chunk), as Slack reports for images."""
        data = self.content or b""
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        return None

    def file_object(self, team: Team, base_url: str) -> dict[str, Any]:
        name = self.filename
        private = f"{base_url}files-pri/{self.team_id}-{self.id}/{name}"
        channels = [c for c in self.shares if team.channels.get(c) and not team.channels[c].is_private
                    and not team.channels[c].is_im and not team.channels[c].is_mpim]
        groups = [c for c in self.shares if team.channels.get(c) and (team.channels[c].is_private
                                                                      or team.channels[c].is_mpim)
                  and not team.channels[c].is_im]
        ims = [c for c in self.shares if team.channels.get(c) and team.channels[c].is_im]
        shares: dict[str, Any] = {}
        for kind, ids in (("public", channels), ("private", groups + ims)):
            for channel_id in ids:
                shares.setdefault(kind, {})[channel_id] = [{
                    "reply_users": [], "reply_users_count": 0, "reply_count": 0, "ts": self.shares[channel_id],
                    "channel_name": team.channels[channel_id].name, "team_id": self.team_id,
                    "share_user_id": self.user_id, "source": "UNKNOWN",
                    **({"thread_ts": self.thread_ts} if self.thread_ts else {}),
                }]
        obj: dict[str, Any] = {
            "id": self.id,
            "created": int(self.created),
            "timestamp": int(self.created),
            "name": name,
            "title": self.title if self.title is not None else name,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "pretty_type": self.filetype.upper(),
            "user": self.user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(self.content or b""),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private,
            "url_private_download": f"{base_url}files-pri/{self.team_id}-{self.id}/download/{name}",
            "permalink": f"https://{team.domain}.slack.com/files/{self.user_id}/{self.id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{self.id}-{secrets.token_hex(5)}",
            "has_rich_preview": False,
            "file_access": "visible",
            "comments_count": 0,
            "channels": channels,
            "groups": groups,
            "ims": ims,
            "shares": shares,
        }
        if self.alt_txt:
            obj["alt_txt"] = self.alt_txt
        size = self.image_size()
        if size is not None:
            obj["original_w"], obj["original_h"] = size
        return obj


def parse_upload_body(headers: Any, body: bytes) -> tuple[bytes, str | None]:
    """The file's bytes from an upload POST (raw, or the file part of multipart/form-data) and its
    multipart filename, if any."""
    content_type = headers.get("Content-Type") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        return body, None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    for part in message.iter_parts():
        filename = part.get_filename()
        if filename is not None or part.get_param("name", header="content-disposition") in ("file", "filename"):
            return part.get_payload(decode=True) or b"", filename
    raise ValueError("no file part in the multipart body")


def new_upload(emu: "SlackEmulator", team: Team, user_id: str, params: dict[str, Any]) -> UploadedFile:
    filename = params.get("filename")
    raw_length = params.get("length")
    if not isinstance(filename, str) or not filename.strip():
        raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: filename"])
    if raw_length in (None, ""):
        raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: length"])
    try:
        length = int(raw_length)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments", messages=["[ERROR] length must be an integer"]) from None
    if length <= 0:
        raise ApiError("missing_argument")  # Slack's answer to a length of 0
    alt_txt = params.get("alt_txt") or None
    if alt_txt is not None and len(str(alt_txt)) > 1000:
        raise ApiError("alt_txt_too_large")
    upload = UploadedFile(
        id=random_id("F"), team_id=team.id, user_id=user_id, filename=filename, length=length,
        created=time.time(), alt_txt=alt_txt, snippet_type=params.get("snippet_type") or None,
        ticket=secrets.token_urlsafe(24),
    )
    emu._files[upload.id] = upload
    emu._upload_tickets[upload.ticket] = upload.id
    return upload


def _files_arg(params: dict[str, Any]) -> list[dict[str, Any]]:
    raw = params.get("files")
    if raw in (None, ""):
        raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: files"])
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError("invalid_arguments", messages=["[ERROR] files must be a JSON array"]) from None
    if not isinstance(raw, list) or not raw or not all(isinstance(f, dict) and f.get("id") for f in raw):
        raise ApiError("invalid_arguments", messages=["[ERROR] files must be an array of {id, title}"])
    return raw


def _share_targets(emu: "SlackEmulator", team: Team, params: dict[str, Any]) -> list[Channel]:
    """`channel_id` names one conversation (a C/G/D id); `channels` is a comma list of channel or
    user ids (a user id shares into the app's DM with that user)."""
    targets: list[Channel] = []
    channel_id = params.get("channel_id")
    if channel_id:
        if not isinstance(channel_id, str) or channel_id not in team.channels:
            raise ApiError("channel_not_found")
        targets.append(team.channels[channel_id])
    raw = params.get("channels")
    refs = raw if isinstance(raw, list) else [r.strip() for r in str(raw or "").split(",") if r.strip()]
    if len(refs) > 100:
        raise ApiError("channels_limit_exceeded")
    for ref in refs:
        targets.append(emu._resolve_channel(team, ref, allow_user=True))
    unique: dict[str, Channel] = {}
    for channel in targets:
        unique.setdefault(channel.id, channel)
    return list(unique.values())


def complete_upload(emu: "SlackEmulator", team: Team, user_id: str, params: dict[str, Any]) -> list[UploadedFile]:
    entries = _files_arg(params)
    uploads: list[UploadedFile] = []
    for entry in entries:
        upload = emu._files.get(str(entry["id"]))
        if upload is None or upload.team_id != team.id or upload.content is None or upload.completed:
            raise ApiError("file_not_found")
        if upload.user_id != user_id:
            raise ApiError("access_denied")
        uploads.append(upload)
    targets = _share_targets(emu, team, params)
    thread_ts = params.get("thread_ts") or None
    if thread_ts and len(targets) != 1:
        raise ApiError("invalid_arguments", messages=["[ERROR] thread_ts needs exactly one channel"])
    for channel in targets:
        emu._check_bot_access(team, channel, posting=True)
    initial_comment = params.get("initial_comment")
    blocks = None
    if initial_comment in (None, ""):
        initial_comment = None
        # Slack ignores blocks when an initial_comment is given.
        blocks = params.get("blocks")
        if isinstance(blocks, str) and blocks:
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise ApiError("invalid_blocks") from None
    for entry, upload in zip(entries, uploads):
        upload.completed = True
        emu._upload_tickets.pop(upload.ticket, None)
        if entry.get("title") not in (None, ""):
            upload.title = str(entry["title"])
        upload.thread_ts = thread_ts
        upload.initial_comment = initial_comment
    for channel in targets:
        content: dict[str, Any] = {"text": initial_comment or "", "blocks": blocks or None}
        record = emu._post_bot_message(team, channel, content, thread_ts=thread_ts)
        for upload in uploads:
            upload.shares[channel.id] = record["ts"]
        record["upload"] = True
        record["display_as_bot"] = False
        record["files"] = [upload.file_object(team, emu.url) for upload in uploads]
    return uploads
