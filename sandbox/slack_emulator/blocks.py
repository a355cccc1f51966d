"""A light Block Kit check: the limits a real workspace enforces most often.

Slack rejects a message or view that breaks a Block Kit limit with
`invalid_blocks` (messages) or `invalid_arguments` (views) and explains why in
`response_metadata.messages`, one `[ERROR] … [json-pointer:…]` line per
problem. Catching the same mistakes here (too many blocks, a section text over
3,000 characters, a button value over 2,000, a duplicate block_id…) means a
bot that passes against the emulator does not fail on the first real install.
This is not a full schema validator: unknown block and element types pass.
"""
from __future__ import annotations

from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100

_TEXT_TYPES = {"plain_text", "mrkdwn"}
_INTERACTIVE_TYPES = {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "timepicker",
    "overflow",
    "radio_buttons",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "file_input",
}


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, pointer: str, message: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def max_len(self, pointer: str, value: Any, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.error(pointer, f"must be less than {limit + 1} characters")

    def text(self, pointer: str, obj: Any, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.error(pointer, "must provide an object")
            return
        kind = obj.get("type")
        if kind not in _TEXT_TYPES or (plain_only and kind != "plain_text"):
            allowed = "plain_text" if plain_only else "plain_text, mrkdwn"
            self.error(f"{pointer}/type", f"must be one of [{allowed}]")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.error(f"{pointer}/text", "must be more than 0 characters")
        else:
            self.max_len(f"{pointer}/text", text, limit)

    def option(self, pointer: str, option: Any) -> None:
        if not isinstance(option, dict):
            self.error(pointer, "must provide an object")
            return
        self.text(f"{pointer}/text", option.get("text"), 75)
        self.max_len(f"{pointer}/value", option.get("value"), 150)

    def element(self, pointer: str, element: Any, action_ids: set[str]) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.error(pointer, "must provide an object with a type")
            return
        kind = element["type"]
        action_id = element.get("action_id")
        if action_id is not None:
            self.max_len(f"{pointer}/action_id", action_id, 255)
            if action_id in action_ids:
                self.error(f"{pointer}/action_id", "must be unique within the block")
            action_ids.add(action_id)
        if kind == "button":
            self.text(f"{pointer}/text", element.get("text"), 75, plain_only=True)
            self.max_len(f"{pointer}/value", element.get("value"), 2000)
            self.max_len(f"{pointer}/url", element.get("url"), 3000)
        options = element.get("options")
        if isinstance(options, list):
            if len(options) > 100:
                self.error(f"{pointer}/options", "must provide no more than 100 items")
            for i, option in enumerate(options):
                self.option(f"{pointer}/options/{i}", option)
        if isinstance(element.get("placeholder"), dict):
            self.text(f"{pointer}/placeholder", element["placeholder"], 150, plain_only=True)

    def block(self, pointer: str, block: Any, block_ids: set[str]) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.error(pointer, "must provide an object with a type")
            return
        kind = block["type"]
        block_id = block.get("block_id")
        if block_id is not None:
            self.max_len(f"{pointer}/block_id", block_id, 255)
            if block_id in block_ids:
                self.error(f"{pointer}/block_id", "must be unique")
            block_ids.add(block_id)
        action_ids: set[str] = set()
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.error(pointer, "must provide either text or fields")
            if "text" in block:
                self.text(f"{pointer}/text", block["text"], 3000)
            fields = block.get("fields")
            if isinstance(fields, list):
                if len(fields) > 10:
                    self.error(f"{pointer}/fields", "must provide no more than 10 items")
                for i, field in enumerate(fields):
                    self.text(f"{pointer}/fields/{i}", field, 2000)
            if "accessory" in block:
                self.element(f"{pointer}/accessory", block["accessory"], action_ids)
        elif kind == "header":
            self.text(f"{pointer}/text", block.get("text"), 150, plain_only=True)
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            limit = 25 if kind == "actions" else 10
            if not isinstance(elements, list) or not elements:
                self.error(f"{pointer}/elements", "must provide at least 1 item")
                return
            if len(elements) > limit:
                self.error(f"{pointer}/elements", f"must provide no more than {limit} items")
            for i, element in enumerate(elements):
                if kind == "context" and isinstance(element, dict) and element.get("type") in _TEXT_TYPES:
                    self.text(f"{pointer}/elements/{i}", element, 3000)
                elif kind == "context" and isinstance(element, dict) and element.get("type") == "image":
                    continue
                else:
                    self.element(f"{pointer}/elements/{i}", element, action_ids)
        elif kind == "input":
            self.text(f"{pointer}/label", block.get("label"), 2000, plain_only=True)
            if "element" not in block:
                self.error(f"{pointer}/element", "must provide an object")
            else:
                self.element(f"{pointer}/element", block["element"], action_ids)
            if isinstance(block.get("hint"), dict):
                self.text(f"{pointer}/hint", block["hint"], 2000, plain_only=True)


def check_blocks(blocks: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Return Slack-style `[ERROR] …` lines for `blocks`; empty when valid."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.error(pointer, "must provide an array")
        return checker.errors
    if len(blocks) > limit:
        checker.error(pointer, f"must provide no more than {limit} items")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(f"{pointer}/{i}", block, block_ids)
    return checker.errors


def check_view(view: Any, *, allowed_types: tuple[str, ...]) -> list[str]:
    """Return Slack-style `[ERROR] …` lines for a modal or home view."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.error("/view", "must provide an object")
        return checker.errors
    kind = view.get("type")
    if kind not in allowed_types:
        checker.error("/view/type", f"must be one of [{', '.join(allowed_types)}]")
    if kind == "modal":
        checker.text("/view/title", view.get("title"), 24, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                checker.text(f"/view/{key}", view[key], 24, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and not view.get("submit"):
            checker.error("/view/submit", "must provide submit when an input block is present")
    checker.max_len("/view/private_metadata", view.get("private_metadata"), 3000)
    checker.max_len("/view/callback_id", view.get("callback_id"), 255)
    checker.max_len("/view/external_id", view.get("external_id"), 255)
    checker.errors.extend(check_blocks(view.get("blocks", []), limit=VIEW_MAX_BLOCKS, pointer="/view/blocks"))
    return checker.errors
