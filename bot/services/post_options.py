"""What a connection posts: stored in Connection.options, chosen in the setup modal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PostOption:
    name: str  # the value in the modal's checkboxes
    key: str  # the key in Connection.options
    default: bool
    label: str


POST_OPTIONS = (
    PostOption("digest", "post_digest", True, "Digest in the channel when a meeting ends"),
    PostOption("todos", "post_todos", True, "Todos in the digest's thread"),
    PostOption("highlights", "post_highlights", True, "Highlights in the digest's thread"),
    PostOption("started", "post_meeting_started", False, "A short note when a meeting starts"),
    PostOption("ended", "post_meeting_ended", False, "A short note when a meeting ends (Whereby)"),
)
BY_NAME = {option.name: option for option in POST_OPTIONS}


def enabled(options: dict | None, name: str) -> bool:
    option = BY_NAME[name]
    value = (options or {}).get(option.key)
    return option.default if value is None else bool(value)


def chosen(options: dict | None) -> set[str]:
    return {option.name for option in POST_OPTIONS if enabled(options, option.name)}


def as_options(names: set[str]) -> dict[str, bool]:
    return {option.key: option.name in names for option in POST_OPTIONS}
