"""Entries in the Berkeley Function Calling Leaderboard's file format, written for these tests.

`QUESTIONS` are lines of a `BFCL_v3_<category>.json` file (`{"id", "question", "function"}`), with
BFCL's type names (`dict`, `float`, `tuple`, `any`), dotted names and a default of the wrong type;
`ANSWERS` are lines of its `possible_answer` file (`{"id", "ground_truth"}`: one
`{name: {param: [acceptable values]}}` per call, `""` marking a parameter that may be left out).
"""

from __future__ import annotations

import json
from pathlib import Path

FACTORIAL = {
    "name": "math.factorial",
    "description": "The factorial of a number.",
    "parameters": {"type": "dict", "properties": {"number": {"type": "integer", "description": "n"}}, "required": ["number"]},
}
CIRCLE = {
    "name": "geometry.area_circle",
    "description": "Area of a circle.",
    "parameters": {
        "type": "dict",
        "properties": {
            "radius": {"type": "float", "description": "the radius"},
            "units": {"type": "string", "description": "unit of length", "default": "units"},
            "precise": {"type": "boolean", "description": "more digits", "default": "false"},
        },
        "required": ["radius"],
    },
}
FORECAST = {
    "name": "weather.get_forecast",
    "description": "Forecast for a place.",
    "parameters": {
        "type": "dict",
        "properties": {
            "location": {"type": "string", "description": "city"},
            "days": {"type": "integer", "description": "how many days", "default": 3},
        },
        "required": ["location"],
    },
}
STOCK = {
    "name": "get_stock_price",
    "description": "Latest price.",
    "parameters": {"type": "dict", "properties": {"ticker": {"type": "string", "description": "symbol"}}, "required": ["ticker"]},
}
PLAY = {
    "name": "spotify.play",
    "description": "Play songs of an artist.",
    "parameters": {
        "type": "dict",
        "properties": {"artist": {"type": "string", "description": "who"}, "duration": {"type": "integer", "description": "minutes"}},
        "required": ["artist", "duration"],
    },
}
HOTEL = {
    "name": "hotel.book",
    "description": "Book a room.",
    "parameters": {
        "type": "dict",
        "properties": {
            "location": {"type": "string", "description": "city"},
            "nights": {"type": "integer", "description": "how long"},
            "preferences": {
                "type": "dict",
                "description": "room wishes",
                "properties": {
                    "view": {"type": "string", "enum": ["sea", "city", "garden"], "description": "view"},
                    "breakfast": {"type": "boolean", "description": "included", "default": "dontcare"},
                },
                "required": ["view"],
            },
            "coordinates": {"type": "tuple", "items": {"type": "float"}, "description": "lat, lon"},
            "extra": {"type": "any", "description": "anything"},
        },
        "required": ["location", "nights"],
    },
}
FLIGHT = {
    "name": "flight.book",
    "description": "Book a flight.",
    "parameters": {
        "type": "dict",
        "properties": {"origin": {"type": "string", "description": "from"}, "destination": {"type": "string", "description": "to"}},
        "required": ["origin", "destination"],
    },
}


def _question(entry_id: str, text: str, functions: list[dict]) -> dict:
    return {"id": entry_id, "question": [[{"role": "user", "content": text}]], "function": functions}


QUESTIONS = {
    "simple": [
        _question("simple_0", "What is 5 factorial?", [FACTORIAL]),
        _question("simple_1", "Area of a circle of radius 25?", [CIRCLE]),
    ],
    "multiple": [_question("multiple_0", "Weather in Berkeley for 3 days?", [STOCK, FORECAST])],
    "parallel": [_question("parallel_0", "Play Queen for 20 minutes and Abba for 15.", [PLAY])],
    "parallel_multiple": [
        _question("parallel_multiple_0", "Fly SFO to Lisbon and book 3 nights there with a sea view.", [FLIGHT, HOTEL]),
    ],
}

ANSWERS = {
    "simple": [
        {"id": "simple_0", "ground_truth": [{"math.factorial": {"number": [5]}}]},
        {"id": "simple_1", "ground_truth": [{"geometry.area_circle": {"radius": [25.0], "units": ["", "units"], "precise": [""]}}]},
    ],
    "multiple": [
        {"id": "multiple_0", "ground_truth": [{"weather.get_forecast": {"location": ["Berkeley", "Berkeley, CA"], "days": [3, ""]}}]},
    ],
    "parallel": [
        {"id": "parallel_0", "ground_truth": [
            {"spotify.play": {"artist": ["Queen"], "duration": [20]}},
            {"spotify.play": {"artist": ["Abba", "ABBA"], "duration": [15]}},
        ]},
    ],
    "parallel_multiple": [
        {"id": "parallel_multiple_0", "ground_truth": [
            {"flight.book": {"origin": ["SFO", "San Francisco"], "destination": ["Lisbon"]}},
            {"hotel.book": {"location": ["Lisbon"], "nights": [3], "preferences": [{"view": ["sea"], "breakfast": ["", True]}],
                            "coordinates": [""], "extra": [""]}},
        ]},
    ],
}


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
