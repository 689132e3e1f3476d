#!/usr/bin/env python3
"""Synthetic planner data for the smart-home catalog beside this file (tools.json).

Writes training_data.json, validation_data.json and testing_data.json in TinyAgent's format
(`{id: {"input": query, "output": [plan step]}}`), or with `--format jsonl` the same names ending
in .jsonl, one `{"id", "query", "plan"}` per line. Standard library only, so it doubles as a
template for generating data for your own catalog: describe what users ask (an intent: templates
and the plan they mean) and let the catalog put the arguments in order.

Deterministic for a seed. A quarter of each intent's phrasings never appear in training; half of
the validation and test queries use them, and no validation or test query occurs in an earlier
split.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).with_name("tools.json")
SPLITS = ("train", "validation", "test")
FILES = {"train": "training_data", "validation": "validation_data", "test": "testing_data"}
HELD_OUT_SHARE_IN_EVAL = 0.5
MAX_TRIES = 50
JOIN = "join"
END_OF_PLAN = "<END_OF_PLAN>"

# ---- the catalog: argument order, defaults --------------------------------------------------


@dataclass(frozen=True)
class Signature:
    name: str
    description: str
    args: tuple[str, ...]  # positional order: required ones first, then the rest (as planner_eval reads it)
    required: frozenset[str]
    defaults: dict[str, Any]


def read_catalog(path: Path = CATALOG) -> dict[str, Signature]:
    """The tools of an OpenAI-schema catalog, their arguments in the positional order plans use."""
    catalog = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        function = entry.get("function", entry)
        parameters = function.get("parameters", {})
        properties = parameters.get("properties", {})
        required = parameters.get("required", [])
        order = [n for n in properties if n in required] + [n for n in properties if n not in required]
        defaults = {n: s["default"] for n, s in properties.items() if "default" in s}
        catalog[function["name"]] = Signature(function["name"], function.get("description", ""), tuple(order),
                                              frozenset(required), defaults)
    return catalog


class Plan:
    """Appends calls checked against the catalog and hands back the "$N" that refers to each one."""

    def __init__(self, catalog: dict[str, Signature]) -> None:
        self.catalog = catalog
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, tool: str, **given: Any) -> str:
        signature = self.catalog[tool]
        unknown = set(given) - set(signature.args)
        missing = signature.required - set(given)
        if unknown or missing:
            raise ValueError(f"{tool}: unknown {sorted(unknown)}, missing {sorted(missing)}")
        # Arguments are positional: write up to the last one given, an optional one skipped on the
        # way takes its default; trailing optional ones are left out and mean their defaults.
        last = max(signature.args.index(n) for n in given)
        self.calls.append((tool, {n: given.get(n, signature.defaults.get(n)) for n in signature.args[: last + 1]}))
        return f"${len(self.calls)}"

    def text(self) -> str:
        lines = [f"{i}. {tool}({', '.join(literal(v) for v in args.values())})" for i, (tool, args) in enumerate(self.calls, 1)]
        return "\n".join([*lines, f"{len(self.calls) + 1}. {JOIN}(){END_OF_PLAN}"])


def literal(value: Any) -> str:
    """A Python literal as plans write it: strings in double quotes, True/False, lists in brackets."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


# ---- slot values ----------------------------------------------------------------------------

ROOMS = ("living room", "kitchen", "bedroom", "bathroom", "office", "kids room", "hallway", "dining room",
         "guest room", "garage", "basement", "attic", "nursery", "study", "laundry room", "master bedroom")
DOORS = ("front door", "back door", "garage door", "patio door", "side gate", "basement door", "shed")
COLORS = ("warm white", "cool white", "red", "orange", "yellow", "green", "blue", "purple", "pink")
PEOPLE = ("Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kim", "Leo",
          "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tara", "Victor", "Yuki", "Zoe")
CITIES = ("Berlin", "Lisbon", "Toronto", "Osaka", "Nairobi", "Denver", "Oslo", "Lyon", "Austin", "Melbourne",
          "Seoul", "Dublin", "Prague", "Seattle", "Cape Town", "Montreal", "Porto", "Kyoto", "Bergen", "Quito")
MUSIC = ("jazz", "lo-fi beats", "Miles Davis", "Taylor Swift", "classical piano", "the Beatles", "Daft Punk",
         "Norah Jones", "80s hits", "Bach cello suites", "reggae", "my workout playlist", "Fleetwood Mac",
         "ambient music", "Beyonce", "bossa nova", "Radiohead", "my dinner playlist", "Adele", "blues")
STATIONS = ("BBC Radio 4", "KEXP", "Jazz FM", "NPR", "Radio Paradise", "FIP", "Classic FM", "WNYC")
PODCASTS = ("The Daily", "Radiolab", "99% Invisible", "Hardcore History", "Planet Money", "Song Exploder")
MESSAGES = ("dinner is ready", "the laundry is done", "I'll be home late", "the package has arrived",
            "the movie starts in ten minutes", "please take out the trash", "the dog needs a walk",
            "I'm on my way home", "grandma is coming over at six", "don't forget your keys",
            "the plumber is here", "homework first, then games")
SENSORS = ("temperature", "humidity", "motion", "air quality")
SCENES = ("good morning", "movie night", "dinner", "bedtime", "away")


def rooms(rng: random.Random, pool: tuple[str, ...] = ROOMS, k: int = 2) -> list[str]:
    return rng.sample(pool, k)


def people(rng: random.Random) -> list[str]:
    return rng.sample(PEOPLE, rng.choice((1, 1, 2, 3)))


def spoken(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def temperature(rng: random.Random) -> tuple[float | int, str]:
    """A temperature in halves of a degree; whole ones are written as integers, as people say them."""
    value = rng.randint(32, 52) / 2
    value = int(value) if value.is_integer() else value
    return value, str(value)


def percent(rng: random.Random, low: int, high: int, step: int) -> int:
    return rng.randrange(low, high + 1, step)


# ---- intents: what users ask, how they say it, the plan it means -----------------------------

Build = Callable[[random.Random, Plan], dict[str, str]]


@dataclass(frozen=True)
class Intent:
    name: str
    templates: tuple[str, ...]
    build: Build  # adds the gold calls to the plan and returns the slot texts the templates use


def lights_switch(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, on = rng.choice(ROOMS), rng.random() < 0.5
    plan.call("set_lights", devices=plan.call("find_devices", room=room, kind="light"), on=on)
    return {"room": room, "switch": "on" if on else "off"}


def lights_dim(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, level = rng.choice(ROOMS), percent(rng, 5, 95, 5)
    plan.call("set_lights", devices=plan.call("find_devices", room=room, kind="light"), on=True, brightness=level)
    return {"room": room, "level": str(level)}


def lights_color(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, color = rng.choice(ROOMS), rng.choice(COLORS)
    plan.call("set_lights", devices=plan.call("find_devices", room=room, kind="light"), on=True, color=color)
    return {"room": room, "color": color}


def lights_color_dim(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, color, level = rng.choice(ROOMS), rng.choice(COLORS), percent(rng, 10, 90, 10)
    lights = plan.call("find_devices", room=room, kind="light")
    plan.call("set_lights", devices=lights, on=True, brightness=level, color=color)
    return {"room": room, "color": color, "level": str(level)}


def lights_two_rooms(rng: random.Random, plan: Plan) -> dict[str, str]:
    (first, second), on = rooms(rng), rng.random() < 0.4
    found = [plan.call("find_devices", room=first, kind="light"), plan.call("find_devices", room=second, kind="light")]
    plan.call("set_lights", devices=found, on=on)
    return {"room": first, "room2": second, "switch": "on" if on else "off"}


def blinds_move(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, opened = rng.choice(ROOMS), rng.random() < 0.5
    plan.call("set_blinds", devices=plan.call("find_devices", room=room, kind="blinds"), position=100 if opened else 0)
    return {"room": room, "verb": "open" if opened else "close"}


def blinds_position(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, position = rng.choice(ROOMS), percent(rng, 10, 90, 5)
    plan.call("set_blinds", devices=plan.call("find_devices", room=room, kind="blinds"), position=position)
    return {"room": room, "position": str(position)}


def thermostat(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, (value, text) = rng.choice(ROOMS), temperature(rng)
    plan.call("set_thermostat", room=room, temperature=value)
    return {"room": room, "temp": text}


def thermostat_mode(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, (value, text), mode = rng.choice(ROOMS), temperature(rng), rng.choice(("heat", "cool", "eco"))
    plan.call("set_thermostat", room=room, temperature=value, mode=mode)
    return {"room": room, "temp": text, "mode": mode}


def music(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, what = rng.choice(ROOMS), rng.choice(MUSIC)
    plan.call("play_music", speakers=plan.call("find_devices", room=room, kind="speaker"), query=what)
    return {"room": room, "music": what}


def music_volume(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, what, volume, shuffle = rng.choice(ROOMS), rng.choice(MUSIC), percent(rng, 10, 80, 5), rng.random() < 0.5
    speakers = plan.call("find_devices", room=room, kind="speaker")
    if shuffle:
        plan.call("play_music", speakers=speakers, query=what, volume=volume, shuffle=True)
    else:
        plan.call("play_music", speakers=speakers, query=what, volume=volume)
    return {"room": room, "music": what, "volume": str(volume), "shuffled": "shuffled " if shuffle else ""}


def music_shuffle(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, what = rng.choice(ROOMS), rng.choice(MUSIC)
    plan.call("play_music", speakers=plan.call("find_devices", room=room, kind="speaker"), query=what, shuffle=True)
    return {"room": room, "music": what}


def radio(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, station = rng.choice(ROOMS), rng.choice(STATIONS)
    plan.call("play_music", speakers=plan.call("find_devices", room=room, kind="speaker"), query=station, source="radio")
    return {"room": room, "station": station}


def podcast(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, show = rng.choice(ROOMS), rng.choice(PODCASTS)
    plan.call("play_music", speakers=plan.call("find_devices", room=room, kind="speaker"), query=show, source="podcast")
    return {"room": room, "podcast": show}


def music_two_rooms(rng: random.Random, plan: Plan) -> dict[str, str]:
    (first, second), what, volume = rooms(rng), rng.choice(MUSIC), percent(rng, 10, 80, 5)
    found = [plan.call("find_devices", room=first, kind="speaker"), plan.call("find_devices", room=second, kind="speaker")]
    plan.call("play_music", speakers=found, query=what, volume=volume)
    return {"room": first, "room2": second, "music": what, "volume": str(volume)}


def locks(rng: random.Random, plan: Plan) -> dict[str, str]:
    door, locked = rng.choice(DOORS), rng.random() < 0.6
    plan.call("set_locks", locks=plan.call("find_devices", room=door, kind="lock"), locked=locked)
    return {"door": door, "verb": "lock" if locked else "unlock"}


def locks_two(rng: random.Random, plan: Plan) -> dict[str, str]:
    first, second = rooms(rng, DOORS)
    found = [plan.call("find_devices", room=first, kind="lock"), plan.call("find_devices", room=second, kind="lock")]
    plan.call("set_locks", locks=found, locked=True)
    return {"door": first, "door2": second}


def sensor_report(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, sensor, names = rng.choice(ROOMS), rng.choice(SENSORS), people(rng)
    plan.call("send_notification", message=plan.call("read_sensor", room=room, sensor=sensor), people=names)
    return {"room": room, "sensor": sensor, "people": spoken(names)}


def motion_alert(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, names = rng.choice(ROOMS), people(rng)
    plan.call("send_notification", message=plan.call("read_sensor", room=room, sensor="motion"), people=names, urgent=True)
    return {"room": room, "people": spoken(names)}


def sensor_read(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, sensor = rng.choice(ROOMS), rng.choice(SENSORS)
    plan.call("read_sensor", room=room, sensor=sensor)
    return {"room": room, "sensor": sensor}


def weather(rng: random.Random, plan: Plan) -> dict[str, str]:
    city = rng.choice(CITIES)
    plan.call("get_weather", city=city)
    return {"city": city}


def weather_days(rng: random.Random, plan: Plan) -> dict[str, str]:
    city, days = rng.choice(CITIES), rng.randint(2, 7)
    plan.call("get_weather", city=city, days=days)
    return {"city": city, "days": str(days)}


def forecast_to(rng: random.Random, plan: Plan) -> dict[str, str]:
    city, days, names = rng.choice(CITIES), rng.randint(2, 7), people(rng)
    plan.call("send_notification", message=plan.call("get_weather", city=city, days=days), people=names)
    return {"city": city, "days": str(days), "people": spoken(names)}


def notify(rng: random.Random, plan: Plan) -> dict[str, str]:
    message, names, urgent = rng.choice(MESSAGES), people(rng), rng.random() < 0.3
    if urgent:
        plan.call("send_notification", message=message, people=names, urgent=True)
    else:
        plan.call("send_notification", message=message, people=names)
    return {"message": message, "people": spoken(names), "urgently": "urgently " if urgent else ""}


def scene(rng: random.Random, plan: Plan) -> dict[str, str]:
    name = rng.choice(SCENES)
    plan.call("run_scene", scene=name)
    return {"scene": name}


def scene_later(rng: random.Random, plan: Plan) -> dict[str, str]:
    name, minutes = rng.choice(SCENES), rng.choice((5, 10, 15, 20, 30, 45, 60, 90))
    plan.call("run_scene", scene=name, delay_minutes=minutes)
    return {"scene": name, "minutes": str(minutes)}


def movie_night(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, level = rng.choice(ROOMS), percent(rng, 5, 40, 5)
    plan.call("run_scene", scene="movie night")
    blinds = plan.call("find_devices", room=room, kind="blinds")
    plan.call("set_blinds", devices=blinds, position=0)
    plan.call("set_lights", devices=plan.call("find_devices", room=room, kind="light"), on=True, brightness=level)
    return {"room": room, "level": str(level)}


def leaving(rng: random.Random, plan: Plan) -> dict[str, str]:
    door, room, (value, text) = rng.choice(DOORS), rng.choice(ROOMS), temperature(rng)
    plan.call("set_locks", locks=plan.call("find_devices", room=door, kind="lock"), locked=True)
    plan.call("set_lights", devices=plan.call("find_devices", room=room, kind="light"), on=False)
    plan.call("set_thermostat", room=room, temperature=value, mode="eco")
    return {"door": door, "room": room, "temp": text}


def morning(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, what, city = rng.choice(ROOMS), rng.choice(MUSIC), rng.choice(CITIES)
    plan.call("set_blinds", devices=plan.call("find_devices", room=room, kind="blinds"), position=100)
    plan.call("play_music", speakers=plan.call("find_devices", room=room, kind="speaker"), query=what)
    plan.call("get_weather", city=city)
    return {"room": room, "music": what, "city": city}


def bedtime(rng: random.Random, plan: Plan) -> dict[str, str]:
    room, (value, text), minutes = rng.choice(ROOMS), temperature(rng), rng.choice((10, 15, 20, 30, 45))
    plan.call("set_thermostat", room=room, temperature=value)
    plan.call("run_scene", scene="bedtime", delay_minutes=minutes)
    return {"room": room, "temp": text, "minutes": str(minutes)}


INTENTS: tuple[Intent, ...] = (
    Intent("lights_switch", ("Turn {switch} the {room} lights", "Switch the lights in the {room} {switch}",
                             "Can you turn the {room} lights {switch}?", "{room} lights {switch}, please",
                             "Lights {switch} in the {room}", "Please switch {switch} the lights in the {room}",
                             "I want the {room} lights {switch}", "Put the {room} lights {switch}"), lights_switch),
    Intent("lights_dim", ("Dim the {room} lights to {level}%", "Set the {room} lights to {level} percent",
                          "Make the lights in the {room} {level}% bright", "{room} lights at {level}% please",
                          "Turn the {room} lights on at {level} percent brightness",
                          "Can you put the lights in the {room} at {level}%?", "Brightness {level}% in the {room}",
                          "I'd like the {room} lights at {level} percent"), lights_dim),
    Intent("lights_color", ("Make the {room} lights {color}", "Change the {room} lights to {color}",
                            "I want {color} light in the {room}", "Set the lights in the {room} to {color}",
                            "Turn the {room} lights {color}", "Switch the {room} to {color} light"), lights_color),
    Intent("lights_color_dim", ("Set the {room} lights to {color} at {level}%",
                                "Make the {room} lights {color} and {level} percent bright",
                                "{color} light at {level}% in the {room}, please",
                                "Turn on the {room} lights in {color}, brightness {level}%",
                                "I'd like {color} lights at {level} percent in the {room}"), lights_color_dim),
    Intent("lights_two_rooms", ("Turn {switch} the lights in the {room} and the {room2}",
                                "Switch {switch} the {room} and {room2} lights",
                                "Lights {switch} in the {room} and in the {room2}",
                                "Can you turn the {room} and {room2} lights {switch}?",
                                "Put the lights {switch} in both the {room} and the {room2}"), lights_two_rooms),
    Intent("blinds_move", ("{verb} the {room} blinds", "Please {verb} the blinds in the {room}",
                           "Can you {verb} the {room} blinds?", "{verb} the blinds in the {room} all the way",
                           "I want to {verb} the {room} blinds"), blinds_move),
    Intent("blinds_position", ("Set the {room} blinds to {position}%", "Open the {room} blinds to {position} percent",
                               "Move the blinds in the {room} to {position}%", "{room} blinds at {position}% please",
                               "Put the {room} blinds {position} percent open"), blinds_position),
    Intent("thermostat", ("Set the {room} to {temp} degrees", "Make it {temp} degrees in the {room}",
                          "{room} thermostat to {temp}", "Change the {room} temperature to {temp} degrees",
                          "I'd like the {room} at {temp} degrees", "Can you set the thermostat in the {room} to {temp}?",
                          "Warm or cool the {room} to {temp} degrees"), thermostat),
    Intent("thermostat_mode", ("Set the {room} thermostat to {temp} degrees in {mode} mode",
                               "Put the {room} on {mode} at {temp} degrees",
                               "{mode} mode, {temp} degrees, in the {room}",
                               "Switch the {room} thermostat to {mode} and {temp} degrees",
                               "Thermostat in the {room}: {mode} mode at {temp}"), thermostat_mode),
    Intent("music", ("Play {music} in the {room}", "Put on {music} on the {room} speakers",
                     "I'd like to hear {music} in the {room}", "Start playing {music} in the {room}",
                     "Can you play {music} in the {room}?", "{music} in the {room}, please",
                     "Play some {music} on the speakers in the {room}", "Let's have {music} in the {room}"), music),
    Intent("music_volume", ("Play {music} {shuffled}in the {room} at volume {volume}",
                            "Put on {music} {shuffled}in the {room}, volume {volume}%",
                            "Start {music} {shuffled}on the {room} speakers at {volume} percent",
                            "I want {music} {shuffled}in the {room} at {volume}% volume",
                            "{music} {shuffled}in the {room} at volume {volume} please"), music_volume),
    Intent("music_shuffle", ("Shuffle {music} in the {room}", "Play {music} on shuffle in the {room}",
                             "Put {music} on shuffle on the {room} speakers", "Shuffle play {music} in the {room}",
                             "Can you shuffle {music} in the {room}?"), music_shuffle),
    Intent("radio", ("Tune the {room} speakers to {station}", "Play {station} radio in the {room}",
                     "Put {station} on in the {room}", "I want to listen to {station} in the {room}",
                     "Switch the {room} radio to {station}"), radio),
    Intent("podcast", ("Play the latest {podcast} episode in the {room}", "Put on the {podcast} podcast in the {room}",
                       "I'd like to listen to {podcast} in the {room}", "Start the podcast {podcast} in the {room}",
                       "Can you play {podcast} on the {room} speakers?"), podcast),
    Intent("music_two_rooms", ("Play {music} in the {room} and the {room2} at volume {volume}",
                               "Put on {music} in both the {room} and {room2}, volume {volume}%",
                               "{music} in the {room} and in the {room2} at {volume} percent",
                               "Start {music} on the {room} and {room2} speakers at volume {volume}",
                               "I want {music} playing in the {room} and the {room2} at {volume}%"), music_two_rooms),
    Intent("locks", ("{verb} the {door}", "Please {verb} the {door}", "Can you {verb} the {door}?",
                     "{verb} the {door} for me", "I need you to {verb} the {door}"), locks),
    Intent("locks_two", ("Lock the {door} and the {door2}", "Make sure the {door} and {door2} are locked",
                         "Lock both the {door} and the {door2}", "Please lock the {door} and {door2}",
                         "Can you lock up the {door} and the {door2}?"), locks_two),
    Intent("sensor_report", ("Send {people} the {sensor} in the {room}", "Tell {people} what the {room} {sensor} is",
                             "Notify {people} of the {sensor} reading in the {room}",
                             "Let {people} know the {room} {sensor}",
                             "Check the {sensor} in the {room} and send it to {people}",
                             "Read the {room} {sensor} sensor and share it with {people}"), sensor_report),
    Intent("motion_alert", ("Check for motion in the {room} and alert {people} urgently",
                            "Urgently tell {people} if there is motion in the {room}",
                            "Read the motion sensor in the {room} and send {people} an urgent alert",
                            "Send {people} an urgent notification with the {room} motion reading",
                            "Alert {people} right away with what the motion sensor in the {room} sees"), motion_alert),
    Intent("sensor_read", ("What is the {sensor} in the {room}?", "Check the {room} {sensor}",
                           "Read the {sensor} sensor in the {room}", "How is the {sensor} in the {room}?",
                           "Tell me the {room} {sensor}", "Give me the {sensor} reading for the {room}"), sensor_read),
    Intent("weather", ("What's the weather in {city}?", "Weather for {city} today", "How is the weather in {city}",
                       "Get me today's forecast for {city}", "Will it rain in {city} today?"), weather),
    Intent("weather_days", ("What's the weather in {city} for the next {days} days?", "{days}-day forecast for {city}",
                            "Get the {city} forecast for {days} days", "How will the weather be in {city} over the next {days} days",
                            "Show me {days} days of weather for {city}"), weather_days),
    Intent("forecast_to", ("Send {people} the {days}-day forecast for {city}",
                           "Get the {city} weather for the next {days} days and send it to {people}",
                           "Let {people} know the {city} forecast for {days} days",
                           "Notify {people} of the weather in {city} for the coming {days} days",
                           "Share the {days}-day {city} forecast with {people}"), forecast_to),
    Intent("notify", ("{urgently}tell {people} that {message}", "{urgently}let {people} know that {message}",
                      "Send {people} a notification {urgently}saying {message}",
                      "{urgently}notify {people}: {message}", "Message {people} {urgently}that {message}",
                      "Ping {people} {urgently}that {message}"), notify),
    Intent("scene", ("Start the {scene} scene", "Activate {scene}", "Run the {scene} scene",
                     "Switch the house to {scene} mode", "Turn on the {scene} scene", "Set the scene to {scene}"), scene),
    Intent("scene_later", ("Start the {scene} scene in {minutes} minutes", "Activate {scene} in {minutes} minutes",
                           "Run {scene} after {minutes} minutes", "In {minutes} minutes, start the {scene} scene",
                           "Schedule the {scene} scene {minutes} minutes from now"), scene_later),
    Intent("movie_night", ("Movie night in the {room}: close the blinds and dim the lights to {level}%",
                           "Start movie night, shut the {room} blinds and set the lights there to {level}%",
                           "Get the {room} ready for a movie: movie night scene, blinds closed, lights at {level} percent",
                           "Run movie night, close the blinds in the {room} and put its lights at {level}%"), movie_night),
    Intent("leaving", ("I'm heading out: lock the {door}, turn off the {room} lights and set the {room} to {temp} degrees in eco mode",
                       "Lock the {door}, switch off the lights in the {room} and put its thermostat on eco at {temp}",
                       "Leaving now. Lock the {door}, lights off in the {room}, {room} thermostat eco at {temp} degrees",
                       "Before I go: {door} locked, {room} lights off and {room} on eco mode at {temp}"), leaving),
    Intent("morning", ("Open the {room} blinds, play {music} there and get the weather in {city}",
                       "Good morning! Open the blinds in the {room}, put on {music} in the {room} and check the {city} weather",
                       "Raise the {room} blinds, start {music} on the {room} speakers and tell me the weather in {city}",
                       "Morning routine: {room} blinds open, {music} in the {room}, weather for {city}"), morning),
    Intent("bedtime", ("Set the {room} to {temp} degrees and start bedtime in {minutes} minutes",
                       "Bedtime in {minutes} minutes, and make the {room} {temp} degrees",
                       "Put the {room} thermostat at {temp} and run the bedtime scene in {minutes} minutes",
                       "In {minutes} minutes start bedtime; the {room} should be at {temp} degrees"), bedtime),
)


# ---- phrasing ------------------------------------------------------------------------------

_SLOT = re.compile(r"(\{\w+\})")


def is_held_out(index: int, n_templates: int) -> bool:
    """Every fourth template counted from the last: a quarter (rounded up) of an intent's phrasings."""
    return (n_templates - 1 - index) % 4 == 0


def templates_for(intent: Intent, split: str, rng: random.Random) -> list[str]:
    n = len(intent.templates)
    held_out = [t for i, t in enumerate(intent.templates) if is_held_out(i, n)]
    seen = [t for i, t in enumerate(intent.templates) if not is_held_out(i, n)]
    if split == "train":
        return seen
    return held_out if rng.random() < HELD_OUT_SHARE_IN_EVAL else seen


def phrase(template: str, slots: dict[str, str], rng: random.Random) -> str:
    """The template with its slots filled; the template's own words vary in case and politeness,
    the slot values never change."""
    lowercase = rng.random() < 0.15
    parts = [slots[p[1:-1]] if _SLOT.fullmatch(p) else (p.lower() if lowercase else p) for p in _SLOT.split(template)]
    query = "".join(parts).strip()
    if rng.random() < 0.1:
        first = query[0] if template.startswith("{") else query[0].lower()  # a slot keeps its case
        query = rng.choice(("please ", "hey, ", "hi! ")) + first + query[1:]
    query = query if lowercase else query[0].upper() + query[1:]
    if rng.random() < 0.15:
        query = query.rstrip(".?!")
    return query


# ---- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    query: str
    plan: Plan
    intent: str
    held_out: bool  # phrased by a template that training never uses


def draw_example(split: str, rng: random.Random, catalog: dict[str, Signature]) -> Example:
    intent = rng.choice(INTENTS)
    plan = Plan(catalog)
    slots = intent.build(rng, plan)
    template = rng.choice(templates_for(intent, split, rng))
    held_out = is_held_out(intent.templates.index(template), len(intent.templates))
    return Example(phrase(template, slots, rng), plan, intent.name, held_out)


def prompt(query: str, tools: list[str], catalog: dict[str, Signature]) -> str:
    """A minimal planner prompt; training rebuilds its own from the catalog."""
    lines = [f"{i}. {catalog[t].name}({', '.join(catalog[t].args)}): {catalog[t].description}" for i, t in enumerate(tools, 1)]
    lines.append(f"{len(tools) + 1}. {JOIN}(): ends the plan.")
    return "Plan the function calls that answer the question, using these tools:\n" + "\n".join(lines) + f"\n\nQuestion: {query}\n"


def tinyagent_record(example: Example, rng: random.Random, catalog: dict[str, Signature]) -> dict[str, Any]:
    calls = example.plan.calls
    return {
        "input": example.query,
        "output": [{
            "type": "plan",
            "raw_input": prompt(example.query, list(dict.fromkeys(tool for tool, _ in calls)), catalog),
            "raw_output": example.plan.text(),
            "parsed_output": [{"tool_name": tool, "tool_args": args} for tool, args in calls] + [{"tool_name": JOIN, "tool_args": {}}],
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "index": 0,
        }],
    }


def _normalized(query: str) -> str:
    return " ".join(query.lower().split())


def generate_split(split: str, n: int, seed: int, forbidden: set[str], catalog: dict[str, Signature]) -> dict[str, Example]:
    """`n` examples with distinct queries, none of them (normalized) in `forbidden`."""
    rng = random.Random(f"{seed}:{split}")
    examples: dict[str, Example] = {}
    seen: set[str] = set()
    for index in range(n):
        for _ in range(MAX_TRIES):
            example = draw_example(split, rng, catalog)
            key = _normalized(example.query)
            if key not in seen and key not in forbidden:
                break
        else:
            raise ValueError(f"could not draw {n} distinct {split} queries; ask for fewer records")
        seen.add(key)
        examples[f"{split}-{seed}-{index:06d}"] = example
    return examples


def generate(n_train: int, n_val: int, n_test: int, seed: int, catalog: dict[str, Signature] | None = None) -> dict[str, dict[str, Example]]:
    """All three splits as {split: {record id: example}}; no query repeats one of an earlier split."""
    catalog = catalog or read_catalog()
    splits: dict[str, dict[str, Example]] = {}
    earlier: set[str] = set()
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        splits[split] = generate_split(split, n, seed, earlier, catalog)
        earlier |= {_normalized(e.query) for e in splits[split].values()}
    return splits


def render(examples: dict[str, Example], fmt: str, seed: int, split: str, catalog: dict[str, Signature]) -> str:
    """The file's text: a TinyAgent JSON object, one record a line, or JSON Lines of {id, query, plan}."""
    if fmt == "jsonl":
        return "".join(json.dumps({"id": i, "query": e.query, "plan": e.plan.text()}, ensure_ascii=False) + "\n"
                       for i, e in examples.items())
    rng = random.Random(f"{seed}:{split}:ids")
    body = ",".join(f"\n{json.dumps(i)}: {json.dumps(tinyagent_record(e, rng, catalog), ensure_ascii=False)}"
                    for i, e in examples.items())
    return "{" + body + "\n}\n"


def write_splits(splits: dict[str, dict[str, Example]], out: Path, fmt: str, seed: int, catalog: dict[str, Signature]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, examples in splits.items():
        path = out / f"{FILES[split]}.{fmt}"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render(examples, fmt, seed, split, catalog), encoding="utf-8")
        tmp.replace(path)  # never a half-written file under the real name
        written.append(path)
    return written


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="generate.py",
        description="Write smart-home planner data (training, validation and testing files) for the catalog in tools.json.")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--train", type=_count, default=1500, help="training records (default 1500)")
    parser.add_argument("--val", type=_count, default=200, help="validation records (default 200)")
    parser.add_argument("--test", type=_count, default=300, help="test records (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--format", choices=("json", "jsonl"), default="json",
                        help="json: TinyAgent's format (default); jsonl: one {id, query, plan} per line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    catalog = read_catalog()
    try:
        splits = generate(args.train, args.val, args.test, args.seed, catalog)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        write_splits(splits, args.out, args.format, args.seed, catalog)
    except OSError as exc:
        print(f"error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    records = {split: len(examples) for split, examples in splits.items()}
    print(json.dumps({"out": str(args.out), "records": records, "seconds": round(time.perf_counter() - start, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
