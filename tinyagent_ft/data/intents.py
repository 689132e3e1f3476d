"""What users ask for: each intent samples slot values, phrases them with one of its templates and
builds the gold plan. Templates are written per intent; the generator holds some of them out of
training so validation and test measure phrasings the planner never saw.

A template may leave out an optional detail (a folder, a location, a note for the email): the
generator then blanks the arguments that carried it, so a plan never holds what the query did not say."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from planner_eval.catalog import TOOLS
from planner_eval.plan import Action
from tinyagent_ft.data import pools

YEAR = 2026


class PlanBuilder:
    """Appends catalog-checked calls and hands back the "$N" that refers to each one."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def call(self, tool: str, **kwargs: Any) -> str:
        expected = TOOLS[tool].arg_names
        if set(kwargs) != set(expected):
            raise ValueError(f"{tool} takes {expected}, got {tuple(kwargs)}")
        action_id = len(self.actions) + 1
        self.actions.append(Action(action_id, tool, [kwargs[name] for name in expected]))
        return f"${action_id}"

    def lookups(self, tool: str, names: list[str]) -> list[str]:
        return [self.call(tool, name=name) for name in names]


# ---- slot samplers -------------------------------------------------------------------------


def person(rng: random.Random) -> str:
    first = rng.choice(pools.FIRST_NAMES)
    return f"{first} {rng.choice(pools.LAST_NAMES)}" if rng.random() < 0.3 else first


def people(rng: random.Random, low: int, high: int) -> list[str]:
    names: list[str] = []
    target = rng.randint(low, high)
    while len(names) < target:
        name = person(rng)
        if name.split()[0] not in {n.split()[0] for n in names}:
            names.append(name)
    return names


def spoken_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def moment(rng: random.Random) -> dt.datetime:
    day = dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))
    return dt.datetime(day.year, day.month, day.day, rng.randint(7, 19), rng.choice((0, 0, 15, 30, 45)))


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _clock(when: dt.datetime, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return when.strftime("%H:%M")
    hour = when.hour % 12 or 12
    suffix = rng.choice(("pm", "PM", " pm", " p.m.")) if when.hour >= 12 else rng.choice(("am", "AM", " am", " a.m."))
    return f"{hour}{suffix}" if when.minute == 0 and rng.random() < 0.7 else f"{hour}:{when.minute:02d}{suffix}"


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def day_phrase(when: dt.datetime, rng: random.Random) -> str:
    month = pools.MONTHS[when.month - 1]
    return rng.choice(
        (
            f"{month} {when.day}",
            f"{month} {_ordinal(when.day)}",
            f"{when.day} {month}",
            f"the {_ordinal(when.day)} of {month}",
            f"{month[:3]} {when.day}",
            f"{when.month}/{when.day}",
        )
    )


def time_phrase(when: dt.datetime, rng: random.Random) -> str:
    """"on March 5 at 3pm" and its many spellings."""
    day, clock = day_phrase(when, rng), _clock(when, rng)
    return rng.choice((f"on {day} at {clock}", f"{day} at {clock}", f"at {clock} on {day}", f"{day}, {clock}"))


def duration_phrase(minutes: int, rng: random.Random) -> str:
    if minutes == 60:
        return rng.choice(("an hour", "1 hour", "one hour", "60 minutes"))
    if minutes % 60 == 0:
        return rng.choice((f"{minutes // 60} hours", f"{minutes} minutes"))
    if minutes == 90:
        return rng.choice(("an hour and a half", "1.5 hours", "90 minutes"))
    return rng.choice((f"{minutes} minutes", f"{minutes} min", f"{minutes} mins"))


def file_name(rng: random.Random) -> str:
    stem = rng.choice(pools.FILE_STEMS)
    return rng.choice((stem, stem, f"{stem}.pdf", stem.replace(" ", "_") + ".pdf"))


# ---- intents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    name: str
    templates: tuple[str, ...]
    sample: Callable[[random.Random], tuple[dict[str, str], list[Action]]]


INTENTS: list[Intent] = []


def intent(name: str, *templates: str):
    def register(sample):
        INTENTS.append(Intent(name, templates, sample))
        return sample

    return register


@intent(
    "phone_lookup",
    "What's {name}'s phone number?",
    "Find the number for {name}",
    "can you get me {name}'s cell",
    "Look up {name}'s phone number please",
    "I need to call {name}, what is their number?",
    "give me the phone number of {name}",
    "show me {name}'s mobile number",
    "{name} phone number",
    "How can I reach {name} by phone?",
    "Do I have a number saved for {name}?",
)
def _phone_lookup(rng):
    name = person(rng)
    plan = PlanBuilder()
    plan.call("get_phone_number", name=name)
    return {"name": name}, plan.actions


@intent(
    "email_lookup",
    "What's {name}'s email address?",
    "Find the email of {name}",
    "look up {name}'s email",
    "I need {name}'s email address",
    "give me the email for {name}",
    "what address should I use to email {name}?",
    "{name} email",
    "Which email does {name} use?",
)
def _email_lookup(rng):
    name = person(rng)
    plan = PlanBuilder()
    plan.call("get_email_address", name=name)
    return {"name": name}, plan.actions


@intent(
    "sms",
    "Text {people} '{message}'",
    "Send a message to {people} saying {message}",
    "tell {people} via text that {message}",
    "sms {people}: {message}",
    "Let {people} know by text: {message}",
    "shoot {people} a text: {message}",
    "can you message {people} '{message}'?",
    "Send an SMS to {people} with the text '{message}'",
    "Text message for {people}: {message}",
    "Please text {people} and say {message}",
)
def _sms(rng):
    names, message = people(rng, 1, 3), rng.choice(pools.SMS_MESSAGES)
    plan = PlanBuilder()
    plan.call("send_sms", recipients=plan.lookups("get_phone_number", names), message=message)
    return {"people": spoken_list(names), "message": message}, plan.actions


@intent(
    "email",
    "Email {to} about {subject} to {context}",
    "Send an email to {to} with the subject '{subject}' to {context}",
    "write to {to}, subject {subject}: {context}",
    "Draft and send a mail to {to} titled {subject}; {context}",
    "Compose an email for {to} regarding {subject} and {context}",
    "shoot {to} an email about {subject} to {context}",
    "Can you email {to}? Subject: {subject}. I want to {context}",
    "Send {to} a mail with subject \"{subject}\" to {context}",
    "Mail {to} ({subject}) and {context}",
    "I'd like to email {to} about {subject} to {context}",
)
def _email(rng):
    names, subject, context = people(rng, 1, 3), rng.choice(pools.SUBJECTS), rng.choice(pools.EMAIL_CONTEXTS)
    plan = PlanBuilder()
    plan.call(
        "compose_new_email",
        recipients=plan.lookups("get_email_address", names),
        cc=[],
        subject=subject,
        context=context,
        attachments=[],
    )
    return {"to": spoken_list(names), "subject": subject, "context": context}, plan.actions


@intent(
    "email_cc",
    "Email {to} and cc {cc} about {subject} to {context}",
    "Send an email to {to}, copying {cc}, subject '{subject}', to {context}",
    "write {to} an email (cc {cc}) titled {subject} and {context}",
    "Compose a mail to {to} with {cc} in cc about {subject}; {context}",
    "Email {to} about {subject}, cc {cc}, to {context}",
    "mail {to}, put {cc} on cc, subject {subject}: {context}",
    "Can you send {to} an email about {subject} and copy {cc}? I want to {context}",
    "Send {to} a note about {subject} and keep {cc} in the loop to {context}",
)
def _email_cc(rng):
    names = people(rng, 2, 4)
    split = max(1, len(names) - rng.randint(1, 2))
    to, cc = names[:split], names[split:]
    subject, context = rng.choice(pools.SUBJECTS), rng.choice(pools.EMAIL_CONTEXTS)
    plan = PlanBuilder()
    to_refs = plan.lookups("get_email_address", to)
    cc_refs = plan.lookups("get_email_address", cc)
    plan.call("compose_new_email", recipients=to_refs, cc=cc_refs, subject=subject, context=context, attachments=[])
    return {"to": spoken_list(to), "cc": spoken_list(cc), "subject": subject, "context": context}, plan.actions


@intent(
    "email_attachment",
    "Send the {file} to {to} by email with the subject {subject}",
    "Email the {file} to {to}, subject {subject}, and {context}",
    "attach {file} and mail it to {to} with subject '{subject}' to {context}",
    "Find the {file} file and email it to {to} ({subject})",
    "Can you send {to} an email with {file} attached? Subject: {subject}. {context}",
    "mail {file} to {to}, subject {subject}",
    "Share the {file} with {to} over email; subject {subject}",
    "Email {to} about {subject} and attach the {file}",
)
def _email_attachment(rng):
    names, file = people(rng, 1, 2), file_name(rng)
    subject, context = rng.choice(pools.SUBJECTS), rng.choice(pools.EMAIL_CONTEXTS)
    plan = PlanBuilder()
    path = plan.call("open_and_get_file_path", file_name=file)
    recipients = plan.lookups("get_email_address", names)
    plan.call("compose_new_email", recipients=recipients, cc=[], subject=subject, context=context, attachments=[path])
    return {"to": spoken_list(names), "file": file, "subject": subject, "context": context}, plan.actions


@intent(
    "summarize_pdf",
    "Summarize {file}",
    "Give me a summary of the {file} pdf",
    "what does {file} say? summarize it for me",
    "tl;dr of {file} please",
    "Can you sum up the {file} document?",
    "I need a quick summary of {file}",
    "Open {file} and summarize it",
    "Read the {file} and tell me the key points",
)
def _summarize_pdf(rng):
    file = file_name(rng)
    plan = PlanBuilder()
    plan.call("summarize_pdf", pdf_path=plan.call("open_and_get_file_path", file_name=file))
    return {"file": file}, plan.actions


@intent(
    "summarize_to_note",
    "Summarize the {file} and save it as a note called {title}",
    "Make a note named {title} with a summary of {file}",
    "summarize {file}, then put the summary in a new note '{title}'",
    "Read {file} and write the key points into a note titled {title}",
    "Create a note {title} containing the summary of the {file}",
    "Can you summarize {file} and store it in notes as {title}?",
    "Put a summary of {file} into a new note called {title}",
    "new note {title}: summary of {file}",
)
def _summarize_to_note(rng):
    file, title = file_name(rng), rng.choice(pools.NOTE_TITLES)
    plan = PlanBuilder()
    summary = plan.call("summarize_pdf", pdf_path=plan.call("open_and_get_file_path", file_name=file))
    plan.call("create_note", name=title, content=summary, folder="")
    return {"file": file, "title": title}, plan.actions


@intent(
    "summarize_to_existing_note",
    "Summarize {file} and add it to my note {title}",
    "append a summary of {file} to the {title} note",
    "Add the key points of {file} to my {title} note",
    "Can you summarize {file} and append it to {title}?",
    "Read {file}, summarize it and put it at the end of the note {title}",
    "Update my note {title} with a summary of the {file}",
)
def _summarize_to_existing_note(rng):
    file, title = file_name(rng), rng.choice(pools.NOTE_TITLES)
    plan = PlanBuilder()
    summary = plan.call("summarize_pdf", pdf_path=plan.call("open_and_get_file_path", file_name=file))
    plan.call("append_note_content", name=title, content=summary, folder="")
    return {"file": file, "title": title}, plan.actions


@intent(
    "summarize_and_email",
    "Summarize {file} and email the summary to {to}",
    "Send {to} a summary of the {file} by email",
    "email {to} the key points of {file}",
    "Can you summarize the {file} and mail it to {to}?",
    "Read {file} and send a short summary to {to} over email",
    "Get a summary of {file} and email it to {to}",
    "{to} needs a summary of {file}, please email it",
)
def _summarize_and_email(rng):
    names, file = people(rng, 1, 2), file_name(rng)
    plan = PlanBuilder()
    summary = plan.call("summarize_pdf", pdf_path=plan.call("open_and_get_file_path", file_name=file))
    recipients = plan.lookups("get_email_address", names)
    plan.call(
        "compose_new_email",
        recipients=recipients,
        cc=[],
        subject=f"Summary of {file}",
        context=summary,
        attachments=[],
    )
    return {"to": spoken_list(names), "file": file}, plan.actions


def _event_times(rng: random.Random) -> tuple[dt.datetime, dt.datetime, int]:
    start, minutes = moment(rng), rng.choice((15, 30, 30, 45, 60, 60, 90, 120))
    return start, start + dt.timedelta(minutes=minutes), minutes


@intent(
    "calendar_event",
    "Add {title} to my calendar {when} for {duration}",
    "Schedule {title} {when}, it lasts {duration}",
    "put {title} on the calendar {when} for {duration} at {location}",
    "Create a calendar event '{title}' {when} lasting {duration} at {location}",
    "Block {duration} {when} for {title}",
    "new event: {title}, {when}, {duration}, at {location}",
    "Can you create an event called {title} {when} for {duration}?",
    "I have {title} {when} at {location}, it takes {duration}; add it to my calendar",
)
def _calendar_event(rng):
    title, location = rng.choice(pools.EVENT_TITLES), rng.choice(pools.PLACES)
    start, end, minutes = _event_times(rng)
    plan = PlanBuilder()
    plan.call(
        "create_calendar_event",
        title=title,
        start_date=stamp(start),
        end_date=stamp(end),
        location=location,
        invitees=[],
        notes="",
        calendar=None,
    )
    slots = {"title": title, "when": time_phrase(start, rng), "duration": duration_phrase(minutes, rng), "location": location}
    return slots, plan.actions


@intent(
    "calendar_invite",
    "Schedule {title} with {people} {when} for {duration}",
    "Set up a meeting called {title} with {people} {when}, {duration} long",
    "invite {people} to {title} {when} for {duration}",
    "Create an event {title} {when} for {duration} and invite {people}",
    "put {title} with {people} on my calendar {when}, {duration}",
    "Book {duration} with {people} {when} for {title}",
    "Can you send {people} a calendar invite for {title} {when}? It lasts {duration}",
    "{title} with {people} {when} for {duration}, please add it to the calendar",
)
def _calendar_invite(rng):
    title, names = rng.choice(pools.EVENT_TITLES), people(rng, 1, 3)
    start, end, minutes = _event_times(rng)
    plan = PlanBuilder()
    plan.call(
        "create_calendar_event",
        title=title,
        start_date=stamp(start),
        end_date=stamp(end),
        location="",
        invitees=plan.lookups("get_email_address", names),
        notes="",
        calendar=None,
    )
    slots = {"title": title, "people": spoken_list(names), "when": time_phrase(start, rng), "duration": duration_phrase(minutes, rng)}
    return slots, plan.actions


@intent(
    "zoom_calendar",
    "Set up a zoom meeting about {topic} with {people} {when} for {duration} and put it on my calendar",
    "Create a Zoom call on {topic} {when} for {duration} with {people}, and add a calendar event with the link",
    "schedule a zoom with {people} {when} ({duration}) about {topic} and add it to the calendar",
    "I need a zoom meeting on {topic} with {people} {when}, {duration}; also make a calendar event",
    "Can you make a zoom link for {topic} {when} for {duration}, invite {people} and put it in my calendar?",
    "zoom + calendar event: {topic} with {people}, {when}, {duration}",
)
def _zoom_calendar(rng):
    topic, names = rng.choice(pools.MEETING_TOPICS), people(rng, 1, 3)
    start, end, minutes = _event_times(rng)
    plan = PlanBuilder()
    invitees = plan.lookups("get_email_address", names)
    link = plan.call("get_zoom_meeting_link", topic=topic, start_time=stamp(start), duration=minutes, meeting_invitees=invitees)
    plan.call(
        "create_calendar_event",
        title=topic,
        start_date=stamp(start),
        end_date=stamp(end),
        location="",
        invitees=invitees,
        notes=link,
        calendar=None,
    )
    slots = {"topic": topic, "people": spoken_list(names), "when": time_phrase(start, rng), "duration": duration_phrase(minutes, rng)}
    return slots, plan.actions


@intent(
    "zoom_email",
    "Create a zoom meeting about {topic} {when} for {duration} and email the link to {people}",
    "Send {people} a zoom link for {topic} {when}, {duration} long",
    "set up a {duration} zoom on {topic} {when} and mail the invite to {people}",
    "Email {people} a Zoom link for our {topic} {when} ({duration})",
    "Can you schedule a zoom call about {topic} {when} for {duration} and send the link to {people} by email?",
    "zoom link for {topic}, {when}, {duration}: email it to {people}",
)
def _zoom_email(rng):
    topic, names = rng.choice(pools.MEETING_TOPICS), people(rng, 1, 2)
    start, _, minutes = _event_times(rng)
    plan = PlanBuilder()
    invitees = plan.lookups("get_email_address", names)
    link = plan.call("get_zoom_meeting_link", topic=topic, start_time=stamp(start), duration=minutes, meeting_invitees=invitees)
    plan.call("compose_new_email", recipients=invitees, cc=[], subject=topic, context=link, attachments=[])
    slots = {"topic": topic, "people": spoken_list(names), "when": time_phrase(start, rng), "duration": duration_phrase(minutes, rng)}
    return slots, plan.actions


@intent(
    "zoom_sms",
    "Make a zoom link for {topic} {when} for {duration} and text it to {people}",
    "text {people} a zoom link for {topic} {when}, {duration}",
    "Create a {duration} Zoom meeting on {topic} {when} and send the link by SMS to {people}",
    "Can you set up a zoom about {topic} {when} ({duration}) and message the link to {people}?",
    "zoom for {topic} {when}, {duration}, then sms the link to {people}",
)
def _zoom_sms(rng):
    topic, names = rng.choice(pools.MEETING_TOPICS), people(rng, 1, 2)
    start, _, minutes = _event_times(rng)
    plan = PlanBuilder()
    numbers = plan.lookups("get_phone_number", names)
    link = plan.call("get_zoom_meeting_link", topic=topic, start_time=stamp(start), duration=minutes, meeting_invitees=[])
    plan.call("send_sms", recipients=numbers, message=link)
    slots = {"topic": topic, "people": spoken_list(names), "when": time_phrase(start, rng), "duration": duration_phrase(minutes, rng)}
    return slots, plan.actions


@intent(
    "reply",
    "Reply to this email and {context}",
    "respond to the email: {context}",
    "Write back and {context}",
    "answer this mail, {context}",
    "Can you reply to the current email to {context}?",
    "reply: {context}",
    "Send a reply that says: {context}",
)
def _reply(rng):
    context = rng.choice(pools.REPLY_CONTEXTS)
    plan = PlanBuilder()
    plan.call("reply_to_email", cc=[], context=context, attachments=[])
    return {"context": context}, plan.actions


@intent(
    "reply_cc",
    "Reply to this email, cc {people}, and {context}",
    "respond to the mail and copy {people}: {context}",
    "Write back with {people} in cc to {context}",
    "Can you answer this email and cc {people}? {context}",
    "reply and loop in {people}: {context}",
)
def _reply_cc(rng):
    names, context = people(rng, 1, 2), rng.choice(pools.REPLY_CONTEXTS)
    plan = PlanBuilder()
    plan.call("reply_to_email", cc=plan.lookups("get_email_address", names), context=context, attachments=[])
    return {"people": spoken_list(names), "context": context}, plan.actions


@intent(
    "reply_attachment",
    "Reply to this email with the {file} attached and {context}",
    "respond with {file} attached: {context}",
    "Attach {file} to a reply and {context}",
    "answer this email, attach the {file}, and {context}",
    "Can you reply with the {file}? {context}",
)
def _reply_attachment(rng):
    file, context = file_name(rng), rng.choice(pools.REPLY_CONTEXTS)
    plan = PlanBuilder()
    plan.call("reply_to_email", cc=[], context=context, attachments=[plan.call("open_and_get_file_path", file_name=file)])
    return {"file": file, "context": context}, plan.actions


@intent(
    "forward",
    "Forward this email to {people}",
    "forward the mail to {people} and say {context}",
    "Send this email on to {people} with the note '{context}'",
    "Can you forward this message to {people}? Add: {context}",
    "fwd to {people}: {context}",
    "Pass this email along to {people}",
    "Forward it to {people} saying {context}",
)
def _forward(rng):
    names, context = people(rng, 1, 3), rng.choice(pools.FORWARD_CONTEXTS)
    plan = PlanBuilder()
    plan.call("forward_email", recipients=plan.lookups("get_email_address", names), cc=[], context=context, attachments=[])
    return {"people": spoken_list(names), "context": context}, plan.actions


@intent(
    "open_location",
    "Show {place} on the map",
    "where is {place}?",
    "open maps to {place}",
    "Find {place} in Maps",
    "Can you pull up {place} on the map?",
    "map of {place}",
    "Take me to {place} in the maps app",
    "Locate {place}",
)
def _open_location(rng):
    place = rng.choice(pools.PLACES)
    plan = PlanBuilder()
    plan.call("maps_open_location", location=place)
    return {"place": place}, plan.actions


@intent(
    "directions",
    "How do I get from {start} to {end} {transport}?",
    "Directions from {start} to {end}, {transport}",
    "show me the route from {start} to {end} {transport}",
    "I want to go from {start} to {end} {transport}, show directions",
    "Can you give me {transport} directions from {start} to {end}?",
    "route {start} -> {end} {transport}",
    "Navigate from {start} to {end} {transport}",
)
def _directions(rng):
    start, end = rng.sample(pools.PLACES, 2)
    mode = rng.choice(("d", "w", "r"))
    plan = PlanBuilder()
    plan.call("maps_show_directions", start_location=start, end_location=end, transport=mode)
    return {"start": start, "end": end, "transport": rng.choice(pools.TRANSPORT_WORDS[mode])}, plan.actions


@intent(
    "directions_and_text",
    "Get directions to {end} {transport} and text {name} that {message}",
    "show me how to get to {end} {transport}, and tell {name} by text: {message}",
    "Route to {end} {transport}; also sms {name} '{message}'",
    "Can you open directions to {end} {transport} and message {name} that {message}?",
    "directions to {end} {transport} then text {name}: {message}",
)
def _directions_and_text(rng):
    end, name, message = rng.choice(pools.PLACES), person(rng), rng.choice(pools.SMS_MESSAGES)
    mode = rng.choice(("d", "w", "r"))
    plan = PlanBuilder()
    plan.call("maps_show_directions", start_location="", end_location=end, transport=mode)
    plan.call("send_sms", recipients=[plan.call("get_phone_number", name=name)], message=message)
    slots = {"end": end, "transport": rng.choice(pools.TRANSPORT_WORDS[mode]), "name": name, "message": message}
    return slots, plan.actions


@intent(
    "create_note",
    "Create a note called {title} that says {content}",
    "make a new note '{title}' in {folder}: {content}",
    "Write down {content} in a note named {title}",
    "new note {title} in my {folder} folder: {content}",
    "Can you jot down '{content}' as a note titled {title}?",
    "Save a note {title} with the text {content}",
    "note to self ({title}): {content}",
    "Add a note in {folder} called {title} saying {content}",
)
def _create_note(rng):
    title, content, folder = rng.choice(pools.NOTE_TITLES), rng.choice(pools.NOTE_CONTENTS), rng.choice(pools.FOLDERS)
    plan = PlanBuilder()
    plan.call("create_note", name=title, content=content, folder=folder)
    return {"title": title, "content": content, "folder": folder}, plan.actions


@intent(
    "open_note",
    "Open my note {title}",
    "show me the {title} note",
    "What's in my {title} note in {folder}?",
    "open the note called {title} from the {folder} folder",
    "Can you pull up {title} from my notes?",
    "read me my {title} note",
    "Open {title} in {folder}",
)
def _open_note(rng):
    title, folder = rng.choice(pools.NOTE_TITLES), rng.choice(pools.FOLDERS)
    plan = PlanBuilder()
    plan.call("open_note", name=title, folder=folder)
    return {"title": title, "folder": folder}, plan.actions


@intent(
    "append_note",
    "Add {content} to my {title} note",
    "append '{content}' to the note {title}",
    "Update the {title} note in {folder} with: {content}",
    "put {content} at the end of my note {title}",
    "Can you add '{content}' to {title} in the {folder} folder?",
    "{title} note: add {content}",
    "Append to {title}: {content}",
)
def _append_note(rng):
    title, content, folder = rng.choice(pools.NOTE_TITLES), rng.choice(pools.NOTE_CONTENTS), rng.choice(pools.FOLDERS)
    plan = PlanBuilder()
    plan.call("append_note_content", name=title, content=content, folder=folder)
    return {"title": title, "content": content, "folder": folder}, plan.actions


@intent(
    "note_to_email",
    "Email my {title} note to {to}",
    "Send the contents of the note {title} to {to} by email",
    "open my {title} note and mail it to {to}",
    "Can you share my note {title} with {to} over email?",
    "mail {to} what's in my {title} note",
    "Forward my {title} note to {to} as an email",
)
def _note_to_email(rng):
    title, names = rng.choice(pools.NOTE_TITLES), people(rng, 1, 2)
    plan = PlanBuilder()
    content = plan.call("open_note", name=title, folder="")
    recipients = plan.lookups("get_email_address", names)
    plan.call("compose_new_email", recipients=recipients, cc=[], subject=title, context=content, attachments=[])
    return {"title": title, "to": spoken_list(names)}, plan.actions


@intent(
    "reminder",
    "Remind me to {task} {when}",
    "set a reminder to {task} {when}",
    "Create a reminder: {task}, {when}",
    "Can you remind me {when} to {task}?",
    "don't let me forget to {task} {when}",
    "Add '{task}' to my reminders for {when}",
    "reminder {when}: {task}",
    "I need a reminder to {task} {when}",
)
def _reminder(rng):
    task, due = rng.choice(pools.REMINDER_TASKS), moment(rng)
    plan = PlanBuilder()
    plan.call("create_reminder", name=task, due_date=stamp(due), notes="", list_name="", priority=0, all_day=False)
    return {"task": task, "when": time_phrase(due, rng)}, plan.actions


@intent(
    "reminder_detailed",
    "Add a high priority reminder to {task} {when} in my {list} list",
    "urgent: remind me to {task} {when}, put it in {list}",
    "Create an important reminder in {list} to {task} {when}",
    "set a high-priority {list} reminder {when}: {task}",
    "Remind me {when} to {task}; it's high priority and goes in the {list} list",
)
def _reminder_detailed(rng):
    task, due, list_name = rng.choice(pools.REMINDER_TASKS), moment(rng), rng.choice(pools.REMINDER_LISTS)
    plan = PlanBuilder()
    plan.call("create_reminder", name=task, due_date=stamp(due), notes="", list_name=list_name, priority=1, all_day=False)
    return {"task": task, "when": time_phrase(due, rng), "list": list_name}, plan.actions


@intent(
    "reminder_all_day",
    "Remind me to {task} on {day}, all day",
    "all-day reminder on {day}: {task}",
    "Set an all day reminder for {day} to {task}",
    "Can you add a reminder for the whole day of {day} to {task}?",
    "{day}: remind me to {task} (all day)",
)
def _reminder_all_day(rng):
    task, due = rng.choice(pools.REMINDER_TASKS), moment(rng).replace(hour=0, minute=0)
    plan = PlanBuilder()
    plan.call("create_reminder", name=task, due_date=stamp(due), notes="", list_name="", priority=0, all_day=True)
    return {"task": task, "day": day_phrase(due, rng)}, plan.actions


@intent(
    "text_and_remind",
    "Text {name} '{message}' and remind me to {task} {when}",
    "send {name} a message saying {message}, then set a reminder to {task} {when}",
    "Message {name}: {message}. Also remind me to {task} {when}",
    "Can you text {name} that {message} and add a reminder to {task} {when}?",
    "sms {name} '{message}' + reminder {when} to {task}",
)
def _text_and_remind(rng):
    name, message, task, due = person(rng), rng.choice(pools.SMS_MESSAGES), rng.choice(pools.REMINDER_TASKS), moment(rng)
    plan = PlanBuilder()
    plan.call("send_sms", recipients=[plan.call("get_phone_number", name=name)], message=message)
    plan.call("create_reminder", name=task, due_date=stamp(due), notes="", list_name="", priority=0, all_day=False)
    return {"name": name, "message": message, "task": task, "when": time_phrase(due, rng)}, plan.actions


@intent(
    "event_and_directions",
    "Add {title} at {location} {when} for {duration} to my calendar and show me how to get there {transport}",
    "Schedule {title} {when} at {location} ({duration}) and give me {transport} directions there from {start}",
    "put {title} on my calendar {when} for {duration} at {location}, then open directions from {start} {transport}",
    "Can you create an event {title} at {location} {when}, {duration} long, and show the way there {transport}?",
)
def _event_and_directions(rng):
    title, location, start_place = rng.choice(pools.EVENT_TITLES), *rng.sample(pools.PLACES, 2)
    start, end, minutes = _event_times(rng)
    mode = rng.choice(("d", "w", "r"))
    plan = PlanBuilder()
    plan.call(
        "create_calendar_event",
        title=title,
        start_date=stamp(start),
        end_date=stamp(end),
        location=location,
        invitees=[],
        notes="",
        calendar=None,
    )
    plan.call("maps_show_directions", start_location=start_place, end_location=location, transport=mode)
    slots = {
        "title": title,
        "location": location,
        "when": time_phrase(start, rng),
        "duration": duration_phrase(minutes, rng),
        "transport": rng.choice(pools.TRANSPORT_WORDS[mode]),
        "start": start_place,
    }
    return slots, plan.actions
