"""A message as the builders return it: fallback text plus slack_sdk blocks, kept within limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject

from bot.slack.blocks.text import truncate

MAX_BLOCKS = 50
# Slack rejects messages whose blocks add up to much over ~12-13k characters
# (msg_blocks_too_long) even when each block is within its own limit.
MAX_BLOCK_CHARS = 11_000
MAX_FALLBACK_TEXT = 3_000


@dataclass
class Message:
    text: str
    blocks: list[Block] = field(default_factory=list)
    _payload: dict | None = field(default=None, repr=False, compare=False)

    def to_slack(self) -> dict:
        """Keyword arguments for chat.postMessage, respond() or ack(). Serialized once: slack_sdk's
        validation makes `to_dict()` cost more than the rest of a command together. Treat as read-only."""
        if self._payload is None:
            self._payload = {"text": truncate(self.text, MAX_FALLBACK_TEXT),
                             "blocks": [_as_dict(b) for b in self.blocks]}
        return self._payload


def _as_dict(block: Block) -> dict:
    cached = getattr(block, "_meetings_bot_dict", None)
    return cached if cached is not None else block.to_dict()


class BlockBudget:
    """Collects blocks until the next one would break the block count or the size budget.

    Builders add blocks in order of importance and ask `fits` before each; what did not fit
    is summarised in one closing note, so a message is cut cleanly instead of rejected.
    """

    def __init__(self, *, max_blocks: int = MAX_BLOCKS, max_chars: int = MAX_BLOCK_CHARS, reserve_blocks: int = 1):
        self.blocks: list[Block] = []
        self.max_blocks = max_blocks - reserve_blocks
        self.max_chars = max_chars - 400  # room for the closing note
        self.chars = 0

    @staticmethod
    def size(block: Block) -> int:
        # Serialize once and keep it on the block, so Message.to_slack() does not do it again.
        as_dict = block.to_dict()
        block._meetings_bot_dict = as_dict  # type: ignore[attr-defined]
        return len(json.dumps(as_dict, ensure_ascii=False))

    def remaining_chars(self) -> int:
        return self.max_chars - self.chars

    def add(self, block: Block) -> bool:
        if len(self.blocks) >= self.max_blocks:
            return False
        size = self.size(block)
        if self.chars + size > self.max_chars:
            return False
        self.blocks.append(block)
        self.chars += size
        return True

    def force(self, block: Block) -> None:
        """For the closing note: always added (the reserve is kept for it)."""
        self.blocks.append(block)
        self.chars += self.size(block)


def note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2900))])
