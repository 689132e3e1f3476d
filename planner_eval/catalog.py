"""The TinyAgent tool catalog: the one place every stage reads tool names, arguments and descriptions from.

Pure Python on purpose: the evaluator checks tool names with it on machines without torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

JOIN = "join"


class _NoDefault:
    """The `default` of an argument whose schema gives none (None is a real default)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ToolArg:
    name: str
    # Python-style hint, see planner_eval.argtypes; the built-in tools use only
    # "str", "int", "bool" and "list[str]".
    type: str
    description: str
    # The TinyAgent data passes None for some optional arguments (the generator writes
    # calendar=None): argument checks and decoding grammars must accept it there and only there.
    nullable: bool = False
    # A plan may leave out trailing arguments that are not required; one left out compares
    # equal to its default, when the schema gives one.
    required: bool = True
    default: Any = NO_DEFAULT
    # JSON Schema's `enum`: the only literal values allowed (a `$N` reference still passes, as its
    # value comes at run time); None when any value of the type will do.
    enum: tuple[Any, ...] | None = None
    # For an object (`dict`) argument whose schema lists `properties`: one ToolArg per property,
    # `required` as the schema says; None when the schema names none (any keys will do).
    properties: tuple["ToolArg", ...] | None = None

    @property
    def type_hint(self) -> str:
        return f"{self.type} | None" if self.nullable else self.type

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: tuple[ToolArg, ...]
    returns: str
    # The catalog's own spelling of the name where it cannot be written in a plan (BFCL's
    # `math.factorial`, written `math_factorial` in plans); tool calls and exports use it.
    source_name: str | None = None

    @property
    def call_name(self) -> str:
        """The name tool calls and exported schemas carry."""
        return self.source_name or self.name

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    def signature(self) -> str:
        """`name(arg: type, ...)`, the line a prompt shows for this tool. The return type is left out:
        OpenAI function schemas have none, so a catalog read back from its stored schemas shows the
        same line, and the descriptions say what each tool gives back."""
        return f"{self.name}({', '.join(_parameter(a) for a in self.args)})"

    @cached_property  # asked for every action checked; a frozen tool's args never change
    def required_count(self) -> int:
        """Required arguments come first, so this many leading arguments must be given."""
        return sum(1 for a in self.args if a.required)


def _parameter(arg: ToolArg) -> str:
    text = f"{arg.name}: {_shown_type(arg)}"
    if arg.has_default:
        return f"{text} = {_shown_value(arg.default)}"
    return text if arg.required else f"{text} = ..."


def _shown_type(arg: ToolArg) -> str:
    if arg.enum is not None:
        shown = " | ".join(_shown_value(v) for v in arg.enum)
    elif arg.properties and arg.type == "dict":
        # The keys a planner must write, as the dict literal it writes them in; `?` marks an optional one.
        shown = "{" + ", ".join(f"{_shown_value(p.name)}{'' if p.required else '?'}: {_shown_type(p)}"
                                for p in arg.properties) + "}"
    else:
        return arg.type_hint
    return f"{shown} | None" if arg.nullable else shown


def _shown_value(value: Any) -> str:
    # Plan literals: strings in double quotes, as plans write them.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


# Tool name -> tool. The evaluator takes any such mapping; treat it as read-only once in use,
# since scoring caches results per catalog.
Catalog = Mapping[str, Tool]
FORMATS: tuple[str, ...] = ("openai", "native")  # the JSON forms `planner_eval.catalog_io` reads and writes


def _tool(name: str, description: str, returns: str, *args: tuple) -> Tool:
    return Tool(name, description, tuple(ToolArg(*a) for a in args), returns)


_DATE = "a date and time as 'YYYY-MM-DD HH:MM:SS'"

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        _tool(
            "get_phone_number",
            "Looks a person up in the contacts and gives back their phone number. "
            "Use it before texting someone when only their name is known.",
            "str",
            ("name", "str", "the contact's name as the user said it"),
        ),
        _tool(
            "get_email_address",
            "Looks a person up in the contacts and gives back their email address. "
            "Use it before sending, forwarding or inviting someone known only by name.",
            "str",
            ("name", "str", "the contact's name as the user said it"),
        ),
        _tool(
            "create_calendar_event",
            "Puts a new event in the calendar. Invitees must be email addresses, so look them up first. "
            "Gives back a confirmation.",
            "str",
            ("title", "str", "short name of the event"),
            ("start_date", "str", f"when it begins, {_DATE}"),
            ("end_date", "str", f"when it ends, {_DATE}"),
            ("location", "str", "where it happens, or an empty string"),
            ("invitees", "list[str]", "email addresses of the people invited"),
            ("notes", "str", "free text attached to the event, or an empty string"),
            ("calendar", "str", "which calendar to use, or None for the default one", True),
        ),
        _tool(
            "open_and_get_file_path",
            "Finds a file on disk by (part of) its name, opens it, and gives back its full path, "
            "so that other tools can attach or read it.",
            "str",
            ("file_name", "str", "the file's name or a recognisable part of it"),
        ),
        _tool(
            "summarize_pdf",
            "Reads a PDF file and gives back a short summary of what it says.",
            "str",
            ("pdf_path", "str", "full path of the PDF, usually from open_and_get_file_path"),
        ),
        _tool(
            "compose_new_email",
            "Writes and sends a new email. Recipients and cc must be email addresses; "
            "attachments must be file paths.",
            "str",
            ("recipients", "list[str]", "email addresses in the To field"),
            ("cc", "list[str]", "email addresses in the Cc field, possibly empty"),
            ("subject", "str", "the subject line"),
            ("context", "str", "what the email should say; the body is written from it"),
            ("attachments", "list[str]", "file paths to attach, possibly empty"),
        ),
        _tool(
            "reply_to_email",
            "Answers the email that is currently selected in the mail app.",
            "str",
            ("cc", "list[str]", "email addresses to copy, possibly empty"),
            ("context", "str", "what the reply should say"),
            ("attachments", "list[str]", "file paths to attach, possibly empty"),
        ),
        _tool(
            "forward_email",
            "Forwards the email that is currently selected in the mail app to other people.",
            "str",
            ("recipients", "list[str]", "email addresses to forward to"),
            ("cc", "list[str]", "email addresses to copy, possibly empty"),
            ("context", "str", "a note to put above the forwarded message"),
            ("attachments", "list[str]", "extra file paths to attach, possibly empty"),
        ),
        _tool(
            "maps_open_location",
            "Shows a place in the maps app.",
            "str",
            ("location", "str", "an address or the name of a place"),
        ),
        _tool(
            "maps_show_directions",
            "Shows a route between two places in the maps app.",
            "str",
            ("start_location", "str", "where the trip begins; an empty string means here"),
            ("end_location", "str", "where the trip ends"),
            ("transport", "str", "'d' to drive, 'w' to walk, 'r' for public transit"),
        ),
        _tool(
            "create_note",
            "Makes a new note with the given text in the notes app.",
            "str",
            ("name", "str", "the note's title"),
            ("content", "str", "the note's text"),
            ("folder", "str", "folder to put it in, or an empty string for the default"),
        ),
        _tool(
            "open_note",
            "Opens an existing note and gives back its text.",
            "str",
            ("name", "str", "the note's title"),
            ("folder", "str", "folder it is in, or an empty string to search everywhere"),
        ),
        _tool(
            "append_note_content",
            "Adds text at the end of an existing note.",
            "str",
            ("name", "str", "the note's title"),
            ("content", "str", "the text to add"),
            ("folder", "str", "folder it is in, or an empty string to search everywhere"),
        ),
        _tool(
            "create_reminder",
            "Adds a reminder to the reminders app.",
            "str",
            ("name", "str", "what to be reminded of"),
            ("due_date", "str", f"when it is due, {_DATE}, or an empty string"),
            ("notes", "str", "extra details, or an empty string"),
            ("list_name", "str", "which reminders list, or an empty string for the default"),
            ("priority", "int", "0 for none, 1 high, 5 medium, 9 low"),
            ("all_day", "bool", "True when the reminder is for the whole day"),
        ),
        _tool(
            "send_sms",
            "Sends a text message. Recipients must be phone numbers, so look them up first.",
            "str",
            ("recipients", "list[str]", "phone numbers to text"),
            ("message", "str", "the text to send"),
        ),
        _tool(
            "get_zoom_meeting_link",
            "Schedules a Zoom meeting and gives back its join link, to paste into an email, "
            "a message or a calendar event.",
            "str",
            ("topic", "str", "what the meeting is about"),
            ("start_time", "str", f"when it starts, {_DATE}"),
            ("duration", "int", "length in minutes"),
            ("meeting_invitees", "list[str]", "email addresses of the people invited"),
        ),
    )
}

TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)

JOIN_DESCRIPTION = (
    "join(): ends the plan. Call it once, after every other action, when the answer "
    "can be given from the results collected so far."
)


def is_known_tool(name: str, catalog: Catalog | None = None) -> bool:
    return name in (TOOLS if catalog is None else catalog)


def describe_tools(names: list[str] | tuple[str, ...], catalog: Catalog | None = None) -> list[str]:
    """Numbered prompt lines for the given tools, in the given order, with join() last."""
    tools = TOOLS if catalog is None else catalog
    lines = []
    for i, name in enumerate(names, start=1):
        tool = tools[name]
        lines.append(f"{i}. {tool.signature()}\n   {tool.description}")
    lines.append(f"{len(names) + 1}. {JOIN_DESCRIPTION}")
    return lines


def default_catalog() -> Catalog:
    """The built-in TinyAgent catalog: what every stage uses when it is given no catalog."""
    return TOOLS
