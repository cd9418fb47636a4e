"""Tolerant reading of provider payloads, declared instead of hand-written.

The providers' bodies vary in spelling (`sessionId`, `session_id`, `id`), send null and "" for
"nothing", and sometimes put a string where a number should be. Each provider module declares
pydantic models over `Lenient`: a field lists its spellings with `AliasChoices` (the first that
has a value wins) and has one of the types below, which turn anything unusable into None instead
of failing the whole object. Unknown fields are ignored, so new fields never break the bot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator


def parse_iso(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as providers send it ("Z" or an offset); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads "Z" and every ISO 8601 form providers send
    except ValueError:
        return None


def epoch_or_iso(value: Any) -> datetime | None:
    """ISO 8601 (with Z) or epoch seconds/milliseconds, always time-zone aware (UTC when the
    value says nothing); unparseable values become None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    parsed = parse_iso(str(value).strip())
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_object(value: Any) -> dict:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str | None:
    """A string with content, else None: providers send "" and null interchangeably, and an
    object or list where a string belongs is no string."""
    if value is None or isinstance(value, (dict, list)):
        return None
    stripped = str(value).strip()
    return stripped or None


def number(value: Any) -> float | None:
    """A number, or a string holding one; None for anything else (a boolean is not a number)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def identifier(value: Any) -> str:
    """An id as a string ("" when missing): ids come as strings or numbers."""
    return "" if value is None or value == "" or isinstance(value, (dict, list)) else str(value)


def webhook_id(value: Any) -> str | None:
    """An id from a webhook body: a non-blank string or an integer, at most 255 characters (the
    inbox's column); anything else is no id."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    return str(value).strip()[:255] or None


Text = Annotated[str | None, BeforeValidator(text)]
WebhookId = Annotated[str | None, BeforeValidator(webhook_id)]
Number = Annotated[float | None, BeforeValidator(number)]
Id = Annotated[str, BeforeValidator(identifier)]
IsoTime = Annotated[datetime | None, BeforeValidator(parse_iso)]
EpochOrIsoTime = Annotated[datetime | None, BeforeValidator(epoch_or_iso)]


class Lenient(BaseModel):
    """Base of the provider payload models. A null value counts as absent, so a field falls back
    to its next spelling (and with `empty_is_absent`, "" does too)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    empty_is_absent: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _drop_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if not cls._absent(v)}

    @classmethod
    def _absent(cls, value: Any) -> bool:
        return value is None or (cls.empty_is_absent and isinstance(value, str) and value == "")

    @classmethod
    def read(cls, data: Any):
        """The model from any value: a non-object reads as an empty one."""
        return cls.model_validate(data if isinstance(data, dict) else {})


class WebhookIds(Lenient):
    """Base of the models reading ids out of webhook bodies: a value that is no id (an object, a
    blank string, a boolean) counts as absent, so the next spelling is read."""

    @classmethod
    def _absent(cls, value: Any) -> bool:
        return webhook_id(value) is None


class Person(Lenient):
    """Someone in a meeting, as the providers list participants (routing rules match on them)."""

    empty_is_absent: ClassVar[bool] = True
    name: Text = None
    email: Text = None


def people(value: Any) -> list[Person]:
    """The objects of a participants list; anything else reads as nobody."""
    return [Person.read(p) for p in value if isinstance(p, dict)] if isinstance(value, list) else []
