"""Peak memory and time to load a TinyAgent file the size of the real training release (734 MB).

The real file cannot be fetched here, so generated records are given prompts as long as the real
ones (the release averages about 18 KB of prompt text per record) until the file reaches --mb.
Each loader runs in a fresh process so its peak RSS is its own. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOADERS = {
    "streaming": "from tinyagent_ft.data import load_tinyagent_file as load; d = load(path); n = len(d)",
    "json.load (for comparison)": "import json; d = json.load(open(path)); n = len(d)",
}


def write_big_file(path: Path, megabytes: int, seed: int) -> int:
    from tinyagent_ft.data import generate_splits, write_tinyagent_file

    padding = "Here is an example of a plan for a similar question. " * 300  # ~16 KB, like a real prompt
    records = {}
    per_record = None
    batch = generate_splits(2000, 0, 0, seed)["train"]
    while per_record is None or len(records) * per_record < megabytes * 2**20:
        for record_id, record in batch.items():
            record = json.loads(json.dumps(record))
            record["output"][0]["raw_input"] += padding
            record["output"][1]["raw_input"] += padding
            records[f"{record_id}-{len(records)}"] = record
        per_record = len(json.dumps(record))
    write_tinyagent_file(records, path)
    return len(records)


def measure(loader: str, path: Path) -> dict:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report the
    # peak of this (large) parent process.
    code = (
        "import re, time\n"
        f"path = {str(path)!r}\n"
        "start = time.perf_counter()\n"
        f"{loader}\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(n, time.perf_counter() - start, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"records": int(out[0]), "seconds": round(float(out[1]), 2), "peak_rss_mb": round(int(out[2]) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=734, help="size of the file to load (default 734, the real release)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-json-load", action="store_true", help="only measure the streaming loader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training_data.json"
        n = write_big_file(path, args.mb, args.seed)
        result = {"file_mb": round(path.stat().st_size / 2**20, 1), "records": n, "loaders": {}}
        for name, loader in LOADERS.items():
            if args.skip_json_load and name != "streaming":
                continue
            result["loaders"][name] = measure(loader, path)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
