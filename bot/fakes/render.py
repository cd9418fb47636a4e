"""Show Slack messages and views in a terminal roughly as a person would see them.

`render_message(message)` takes what the bot sent (a dict with text/blocks, a
`FakeSlack` `ApiCall` or `ResponsePost`) and returns a rich Panel; `render_view(view)` does the
same for modals and Home tabs. Slack mrkdwn is approximated: *bold*, _italic_, ~strike~,
`code`, ```pre```, > quotes, <url|label> links, <#C123> channels, <@U123> users, <!here>.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

__all__ = ["mrkdwn_to_text", "print_message", "print_view", "render_blocks", "render_message", "render_view"]

DEFAULT_WIDTH = 88

_INLINE = re.compile(
    r"(?P<angle><(?P<inner>[^<>\n]+)>)"
    r"|(?P<code>`(?P<code_inner>[^`\n]+)`)"
    r"|(?P<bold>(?<![\w*])\*(?=\S)(?P<bold_inner>[^*\n]+?)(?<=\S)\*(?![\w*]))"
    r"|(?P<italic>(?<![\w_])_(?=\S)(?P<italic_inner>[^_\n]+?)(?<=\S)_(?![\w_]))"
    r"|(?P<strike>(?<![\w~])~(?=\S)(?P<strike_inner>[^~\n]+?)(?<=\S)~(?![\w~]))"
)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _angle(inner: str) -> Text:
    """<...> tokens: links, channels, users, special mentions, dates."""
    target, _, label = inner.partition("|")
    if target.startswith("#C") or target.startswith("#G"):
        return Text("#" + (label or target[1:]), style="bold blue")
    if target.startswith("@"):
        return Text("@" + (label or target[1:]), style="bold blue")
    if target.startswith("!subteam^"):
        return Text(label or "@group", style="bold blue")
    if target.startswith("!date^"):
        return Text(_unescape(label or target), style="underline")
    if target.startswith("!"):
        return Text("@" + target[1:], style="bold yellow")
    return Text(_unescape(label or target), style="underline blue")


def _inline(text: str, style: str = "") -> Text:
    out = Text(style=style)
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            out.append(_unescape(text[pos : m.start()]))
        if m.group("angle"):
            out.append_text(_angle(m.group("inner")))
        elif m.group("code"):
            out.append(_unescape(m.group("code_inner")), style="bold magenta")
        elif m.group("bold"):
            out.append_text(_inline(m.group("bold_inner"), "bold"))
        elif m.group("italic"):
            out.append_text(_inline(m.group("italic_inner"), "italic"))
        elif m.group("strike"):
            out.append_text(_inline(m.group("strike_inner"), "strike"))
        pos = m.end()
    if pos < len(text):
        out.append(_unescape(text[pos:]))
    return out


def mrkdwn_to_text(text: str, *, mrkdwn: bool = True) -> Text:
    """Slack mrkdwn (as sent, i.e. with &amp;/&lt;/&gt; escapes) -> rich Text."""
    if not mrkdwn:
        return Text(_unescape(text))
    out = Text()
    parts = text.split("```")
    for i, part in enumerate(parts):
        if i % 2 == 1 and i < len(parts) - 1:  # inside ```...```
            out.append(_unescape(part.strip("\n")), style="magenta")
            continue
        if i % 2 == 1:  # unbalanced fence: show as typed
            part = "```" + part
        lines = part.split("\n")
        for j, line in enumerate(lines):
            if j:
                out.append("\n")
            if line.startswith(">"):  # a real quote (a literal '>' would arrive as &gt;)
                out.append("▌ ", style="dim")
                out.append_text(_inline(line[1:].lstrip(), "dim"))
            else:
                out.append_text(_inline(line))
    return out


def _text_obj(obj: Any) -> Text:
    if not isinstance(obj, dict):
        return Text(str(obj or ""))
    return mrkdwn_to_text(str(obj.get("text", "")), mrkdwn=obj.get("type") == "mrkdwn")


def _plain(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else str(obj or "")


def _element(el: Any) -> Text:
    """One interactive element, e.g. `[ Show ]`."""
    if not isinstance(el, dict):
        return Text("[ ? ]", style="dim")
    kind = el.get("type", "")
    if kind == "button":
        style = {"primary": "bold green", "danger": "bold red"}.get(el.get("style", ""), "bold")
        return Text(f"[ {_plain(el.get('text'))} ]", style=style)
    if kind == "image":
        return Text(f"[image: {el.get('alt_text', '')}]", style="dim")
    if kind == "overflow":
        return Text("[ ⋯ ]", style="bold")
    if kind in ("radio_buttons", "checkboxes"):
        mark = "( )" if kind == "radio_buttons" else "[ ]"
        chosen = {o.get("value") for o in el.get("initial_options", []) or []}
        if el.get("initial_option"):
            chosen.add(el["initial_option"].get("value"))
        row = Text()
        for i, opt in enumerate(el.get("options", [])):
            if i:
                row.append("  ")
            on = opt.get("value") in chosen
            row.append(("(•)" if kind == "radio_buttons" else "[x]") if on else mark)
            row.append(" ")
            row.append_text(_text_obj(opt.get("text")))
        return row
    if kind.endswith("select"):
        initial = el.get("initial_option") or {}
        shown = _plain(initial.get("text")) or _plain(el.get("placeholder")) or "Select"
        return Text(f"[ {shown} ▾ ]", style="bold")
    if kind == "datepicker":
        return Text(f"[ {el.get('initial_date') or _plain(el.get('placeholder')) or 'date'} 📅 ]", style="bold")
    if kind == "timepicker":
        return Text(f"[ {el.get('initial_time') or _plain(el.get('placeholder')) or 'time'} 🕒 ]", style="bold")
    if kind.endswith("_input"):
        shown = el.get("initial_value") or _plain(el.get("placeholder"))
        return Text(f"[ {shown or ' ' * 20} ]", style="dim" if not el.get("initial_value") else "")
    return Text(f"[ {kind} ]", style="dim")


def _row(elements: list) -> Text:
    row = Text()
    for i, el in enumerate(elements):
        if i:
            row.append("  ")
        row.append_text(_element(el))
    return row


def _rich_text(elements: list) -> Text:
    """rich_text block elements (what Slack's composer sends) -> Text."""
    out = Text()

    def inline(items: list) -> Text:
        t = Text()
        for it in items or []:
            kind = it.get("type")
            st = it.get("style") or {}
            style = " ".join(s for s, on in (("bold", st.get("bold")), ("italic", st.get("italic")),
                                              ("strike", st.get("strike")), ("bold magenta", st.get("code"))) if on)
            if kind == "text":
                t.append(it.get("text", ""), style=style)
            elif kind == "link":
                t.append(it.get("text") or it.get("url", ""), style="underline blue")
            elif kind == "user":
                t.append("@" + it.get("user_id", ""), style="bold blue")
            elif kind == "channel":
                t.append("#" + it.get("channel_id", ""), style="bold blue")
            elif kind == "emoji":
                t.append(f":{it.get('name', '')}:")
            elif kind == "broadcast":
                t.append("@" + it.get("range", ""), style="bold yellow")
        return t

    for i, el in enumerate(elements or []):
        if i:
            out.append("\n")
        kind = el.get("type")
        if kind == "rich_text_section":
            out.append_text(inline(el.get("elements")))
        elif kind == "rich_text_list":
            for n, item in enumerate(el.get("elements", [])):
                if n:
                    out.append("\n")
                bullet = f"{n + 1}. " if el.get("style") == "ordered" else "• "
                out.append("  " * int(el.get("indent", 0)) + bullet)
                out.append_text(inline(item.get("elements")))
        elif kind == "rich_text_preformatted":
            pre = inline(el.get("elements"))
            pre.stylize("magenta")
            out.append_text(pre)
        elif kind == "rich_text_quote":
            out.append("▌ ", style="dim")
            out.append_text(inline(el.get("elements")))
    return out


def _block(block: Any) -> RenderableType | None:
    if not isinstance(block, dict):
        return Text(f"[invalid block: {block!r}]", style="red")
    kind = block.get("type")
    if kind == "header":
        return Text(_plain(block.get("text")), style="bold")
    if kind == "divider":
        return Rule(style="dim")
    if kind == "section":
        parts: list[RenderableType] = []
        if block.get("text"):
            parts.append(_text_obj(block["text"]))
        fields = block.get("fields") or []
        if fields:
            grid = Table.grid(expand=True, padding=(0, 2))
            grid.add_column(ratio=1)
            grid.add_column(ratio=1)
            for i in range(0, len(fields), 2):
                pair = [_text_obj(f) for f in fields[i : i + 2]]
                grid.add_row(*(pair + [Text()] * (2 - len(pair))))
            parts.append(grid)
        body: RenderableType = Group(*parts) if len(parts) != 1 else parts[0]
        if "accessory" in block:
            grid = Table.grid(expand=True, padding=(0, 1))
            grid.add_column(ratio=1)
            grid.add_column(justify="right", no_wrap=True)
            grid.add_row(body, _element(block["accessory"]))
            return grid
        return body
    if kind == "context":
        row = Text(style="dim")
        for i, el in enumerate(block.get("elements", [])):
            if i:
                row.append("  ")
            if isinstance(el, dict) and el.get("type") == "image":
                row.append(f"[image: {el.get('alt_text', '')}]")
            else:
                row.append_text(_text_obj(el))
        return row
    if kind == "actions":
        return _row(block.get("elements", []))
    if kind == "image":
        out = Text()
        if block.get("title"):
            out.append(_plain(block["title"]) + "\n", style="bold")
        out.append(f"[image: {block.get('alt_text', '')}]", style="dim")
        return out
    if kind == "input":
        label = Text(_plain(block.get("label")), style="bold")
        if block.get("optional"):
            label.append(" (optional)", style="dim")
        parts = [label, _element(block.get("element"))]
        if block.get("hint"):
            parts.append(Text(_plain(block["hint"]), style="dim"))
        return Group(*parts)
    if kind == "markdown":
        return Markdown(str(block.get("text", "")))
    if kind == "rich_text":
        return _rich_text(block.get("elements", []))
    return Text(f"[{kind} block]", style="dim")


def render_blocks(blocks: list) -> list[RenderableType]:
    return [r for r in (_block(b) for b in blocks or []) if r is not None]


def _unwrap(message: Any) -> tuple[dict, bool]:
    """Accept a message dict, a FakeSlack ApiCall or ResponsePost; -> (payload, ephemeral)."""
    method = getattr(message, "method", None)
    if method is not None and hasattr(message, "args"):
        return message.args, method == "chat.postEphemeral"
    if hasattr(message, "url_id") and hasattr(message, "body"):
        body = message.body
        kind = body.get("response_type")
        replacing = bool(body.get("replace_original") or body.get("delete_original"))
        return body, kind == "ephemeral" or (kind is None and not replacing)
    message = message or {}
    ephemeral = bool(message.get("response_type") == "ephemeral" or message.get("is_ephemeral")
                     or message.get("ephemeral"))
    return message, ephemeral


def render_message(
    message: Any, *, title: str | None = None, ephemeral: bool | None = None, width: int | None = DEFAULT_WIDTH
) -> Panel:
    """A Panel showing the message: blocks if it has them, otherwise its text.

    response_url posts (ResponsePost) count as ephemeral unless response_type is "in_channel" or
    they replace/delete the original, as Slack does; pass `ephemeral=` to override.
    """
    payload, is_ephemeral = _unwrap(message)
    if ephemeral is not None:
        is_ephemeral = ephemeral
    parts: list[RenderableType] = []
    if payload.get("delete_original"):
        parts.append(Text("(deletes the original message)", style="dim italic"))
    blocks = payload.get("blocks")
    if blocks:
        parts += render_blocks(blocks)
    elif payload.get("text"):
        parts.append(mrkdwn_to_text(str(payload["text"]), mrkdwn=payload.get("mrkdwn", True) is not False))
    for att in payload.get("attachments") or []:
        fallback = str(att.get("text") or att.get("fallback") or "")
        inner = render_blocks(att.get("blocks") or []) or [mrkdwn_to_text(fallback)]
        color = att.get("color", "dim") if str(att.get("color", "")).startswith("#") else "dim"
        parts.append(Panel(Group(*inner), border_style=color))
    if not parts:
        parts.append(Text("(empty message)", style="dim"))
    if is_ephemeral:
        parts.insert(0, Text("👁 Only visible to you", style="dim italic"))
    subtitle = "edited" if payload.get("replace_original") else None
    return Panel(Group(*parts), title=title, title_align="left", subtitle=subtitle, width=width, padding=(0, 1))


def render_view(view: dict, *, width: int | None = 64) -> Panel:
    """A modal (title, blocks, [Close] [Submit]) or Home tab, as a Panel."""
    view = view or {}
    parts: list[RenderableType] = render_blocks(view.get("blocks") or [])
    if not parts:
        parts.append(Text("(no blocks)", style="dim"))
    if view.get("type") == "home":
        return Panel(Group(*parts), title="🏠 Home", title_align="left", width=width, padding=(0, 1))
    buttons = Text(justify="right")
    buttons.append(f"[ {_plain(view.get('close')) or 'Cancel'} ]")
    if view.get("submit"):
        buttons.append("  ")
        buttons.append(f"[ {_plain(view['submit'])} ]", style="bold green")
    parts += [Rule(style="dim"), buttons]
    return Panel(Group(*parts), title=_plain(view.get("title")) or "Modal", title_align="left", width=width,
                 padding=(0, 1), border_style="bold")


def print_message(console: Console, message: Any, title: str | None = None, **kwargs: Any) -> None:
    console.print(render_message(message, title=title, **kwargs))


def print_view(console: Console, view: dict, **kwargs: Any) -> None:
    console.print(render_view(view, **kwargs))
