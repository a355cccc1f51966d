"""Web API methods for onboarding and digests: usergroups.list, usergroups.users.list and files
upload v2 (files.getUploadURLExternal, files.completeUploadExternal, files.info).

These check the token's scopes as Slack does (`missing_scope` with `needed` and `provided`), so a
manifest that forgot `usergroups:read` or `files:write` fails here as it would in Slack.
"""
from __future__ import annotations

from typing import Any

from .files import complete_upload, new_upload
from .state import ApiError
from .web_api import Ctx, _truthy, method


def require_scope(ctx: Ctx, needed: str, *alternatives: str) -> None:
    assert ctx.token is not None
    granted = {scope.strip() for scope in ctx.token.scopes.split(",") if scope.strip()}
    if not granted & {needed, *alternatives}:
        raise ApiError("missing_scope", extra={"needed": needed, "provided": ctx.token.scopes})


# ---------------------------------------------------------------------------- usergroups


@method("usergroups.list")
def usergroups_list(ctx: Ctx) -> dict[str, Any]:
    require_scope(ctx, "usergroups:read")
    include_disabled = _truthy(ctx.params.get("include_disabled"))
    include_users = _truthy(ctx.params.get("include_users"))
    include_count = _truthy(ctx.params.get("include_count"))
    groups = [g for g in ctx.bot_team.usergroups.values() if include_disabled or not g.disabled]
    # Slack lists them "in no particular order"; the emulator keeps creation order.
    return {"usergroups": [g.usergroup_object(include_users=include_users, include_count=include_count)
                           for g in groups]}


@method("usergroups.users.list")
def usergroups_users_list(ctx: Ctx) -> dict[str, Any]:
    require_scope(ctx, "usergroups:read")
    usergroup_id = ctx.params.get("usergroup")
    if not usergroup_id:
        raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: usergroup"])
    group = ctx.bot_team.usergroups.get(str(usergroup_id))
    # A disabled group is answered only with include_disabled ("allow results that involve disabled groups").
    if group is None or (group.disabled and not _truthy(ctx.params.get("include_disabled"))):
        raise ApiError("no_such_subteam")
    # Slack takes deactivated accounts out of their groups.
    users = ctx.bot_team.users
    return {"users": [u for u in group.users if not users.get(u, {}).get("deleted")]}


# ---------------------------------------------------------------------------- files upload v2


@method("files.getUploadURLExternal")
def files_get_upload_url_external(ctx: Ctx) -> dict[str, Any]:
    require_scope(ctx, "files:write")
    assert ctx.token is not None
    upload = new_upload(ctx.emu, ctx.bot_team, ctx.token.user_id, ctx.params)
    return {"upload_url": f"{ctx.emu.url}upload/v1/{upload.ticket}", "file_id": upload.id}


@method("files.completeUploadExternal")
def files_complete_upload_external(ctx: Ctx) -> dict[str, Any]:
    require_scope(ctx, "files:write")
    assert ctx.token is not None
    uploads = complete_upload(ctx.emu, ctx.bot_team, ctx.token.user_id, ctx.params)
    return {"files": [upload.file_object(ctx.bot_team, ctx.emu.url) for upload in uploads]}


@method("files.info")
def files_info(ctx: Ctx) -> dict[str, Any]:
    require_scope(ctx, "files:read")
    upload = ctx.emu._files.get(str(ctx.params.get("file") or ""))
    if upload is None or upload.team_id != ctx.bot_team.id or not upload.completed:
        raise ApiError("file_not_found")
    return {"file": upload.file_object(ctx.bot_team, ctx.emu.url), "comments": [],
            "response_metadata": {"next_cursor": ""}}
