"""A small catalog that is not TinyAgent's (tests/data/home_tools.json: enum, number, integer, boolean and
array arguments, a nullable one and optional ones with defaults) and plan JSONL data over it."""

from __future__ import annotations

import json
import random
from pathlib import Path

HOME_TOOLS = Path(__file__).parent / "data" / "home_tools.json"
ROOMS = ("hall", "kitchen", "den", "attic", "study", "garage")
PLAYLISTS = ("jazz", "focus", "rock", "lullabies")


def _record(rng: random.Random) -> tuple[str, str]:
    room = rng.choice(ROOMS)
    kind = rng.randrange(4)
    if kind == 0:
        degrees, mode = rng.choice((18.5, 20, 21.5, 23)), rng.choice(("heat", "cool", "auto"))
        return (f"set the {room} thermostat to {degrees} degrees in {mode} mode",
                f'1. find_device("{room}")\n2. set_thermostat("$1", {degrees}, "{mode}")\n3. join()<END_OF_PLAN>')
    if kind == 1:
        on = rng.random() < 0.5
        return (f"turn the {room} lights {'on' if on else 'off'}",
                f'1. find_device("{room}")\n2. set_lights(["$1"], {on})\n3. join()<END_OF_PLAN>')
    if kind == 2:
        days = sorted(rng.sample(range(1, 8), 2))
        return (f"repeat the {room} scene on days {days[0]} and {days[1]}",
                f'1. schedule_scene("{room}", {days}, None)\n2. join()<END_OF_PLAN>')
    playlist, volume = rng.choice(PLAYLISTS), rng.choice((10, 20, 50))
    return (f"play {playlist} at volume {volume} in the {room}",
            f'1. play_music("{playlist}", {volume}, False)\n2. join()<END_OF_PLAN>')


def write_home_data(directory: Path, train: int = 48, val: int = 8, test: int = 8, seed: int = 0) -> Path:
    """training/validation/testing_data.jsonl with {"id", "query", "plan"} lines over the home tools."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for name, n in (("training_data.jsonl", train), ("validation_data.jsonl", val), ("testing_data.jsonl", test)):
        lines = []
        for i in range(n):
            query, plan = _record(rng)
            lines.append(json.dumps({"id": f"{name[:2]}{i}", "query": query, "plan": plan}) + "\n")
        (directory / name).write_text("".join(lines))
    return directory
