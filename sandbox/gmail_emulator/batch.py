"""The ``multipart/mixed`` batch format of Google APIs.

Requests arrive as googleapiclient's ``BatchHttpRequest`` writes them: each
part is ``Content-Type: application/http`` with a ``Content-ID`` and, as its
body, a whole HTTP request (request line, headers, blank line, body).  Each
answer part echoes the id as ``Content-ID: <response-ID>`` and holds a whole
HTTP response with CRLF line ends (the client splits headers from body on
``\\r\\n\\r\\n``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.message import Message as _HeaderParser

from .errors import REASON_PHRASES


class BatchFormatError(ValueError):
    pass


@dataclass
class InnerRequest:
    content_id: str | None
    method: str
    target: str  # path and query, e.g. /gmail/v1/users/me/messages/x?alt=json
    headers: dict[str, str]  # lower-cased names
    body: bytes


def boundary_of(content_type: str) -> str | None:
    holder = _HeaderParser()
    holder["Content-Type"] = content_type
    if holder.get_content_maintype() != "multipart":
        return None
    return holder.get_param("boundary")


def split_head(blob: bytes) -> tuple[bytes, bytes]:
    crlf = blob.find(b"\r\n\r\n")
    lf = blob.find(b"\n\n")
    if crlf == -1 and lf == -1:
        return blob, b""
    if lf == -1 or (crlf != -1 and crlf < lf):
        return blob[:crlf], blob[crlf + 4 :]
    return blob[:lf], blob[lf + 2 :]


def parse_headers(head: bytes) -> tuple[list[str], dict[str, str]]:
    lines = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n").split("\n")
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    headers: dict[str, str] = {}
    for line in unfolded:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return unfolded, headers


def parse_batch(content_type: str, body: bytes) -> list[InnerRequest]:
    boundary = boundary_of(content_type)
    if not boundary:
        raise BatchFormatError("Failed to parse batch request, error: no boundary specified")
    delimiter = b"--" + boundary.encode("ascii")
    segments = body.split(delimiter)
    if len(segments) < 2:
        raise BatchFormatError("Failed to parse batch request, error: no parts")
    requests: list[InnerRequest] = []
    for segment in segments[1:]:
        if segment.startswith(b"--"):
            break
        # Drop the rest of the boundary line and the line break that belongs
        # to the next delimiter.
        newline = segment.find(b"\n")
        segment = segment[newline + 1 :] if newline != -1 else b""
        if segment.endswith(b"\r\n"):
            segment = segment[:-2]
        elif segment.endswith(b"\n"):
            segment = segment[:-1]
        part_head, http_message = split_head(segment)
        _, part_headers = parse_headers(part_head)
        request_head, request_body = split_head(http_message)
        lines, headers = parse_headers(request_head)
        if not lines:
            raise BatchFormatError("Failed to parse batch request, error: empty part")
        pieces = lines[0].split()
        if len(pieces) < 2:
            raise BatchFormatError(f"Failed to parse batch request, error: bad request line {lines[0]!r}")
        length = headers.get("content-length")
        if length and length.isdigit():
            request_body = request_body[: int(length)]
        requests.append(
            InnerRequest(
                content_id=part_headers.get("content-id"),
                method=pieces[0].upper(),
                target=pieces[1],
                headers=headers,
                body=request_body,
            )
        )
    return requests


def response_content_id(request_id: str | None) -> str | None:
    if request_id is None:
        return None
    inner = request_id.strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    return f"<response-{inner}>"


def format_batch(responses: list[tuple[str | None, int, dict[str, str], bytes]]) -> tuple[str, bytes]:
    """(content type, body) of the batch answer; each response is (content id, status, headers, body)."""
    boundary = "batch_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
    out = bytearray()
    for content_id, status, headers, body in responses:
        out += f"--{boundary}\r\n".encode()
        out += b"Content-Type: application/http\r\n"
        response_id = response_content_id(content_id)
        if response_id:
            out += f"Content-ID: {response_id}\r\n".encode()
        out += b"\r\n"
        out += f"HTTP/1.1 {status} {REASON_PHRASES.get(status, 'Unknown')}\r\n".encode()
        for name, value in headers.items():
            out += f"{name}: {value}\r\n".encode()
        out += f"Content-Length: {len(body)}\r\n".encode()
        out += b"\r\n"
        out += body
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", bytes(out)
