"""Repeated hand-written pairs through `score_plan`: the evaluator's per-pair cost without file reading
or worker processes. Three TinyAgent plans are scored against copies, reorderings, a wrong value, a
renumbering, a missing call and a truncated plan. Prints JSON: pairs per CPU-second and the verdicts.
To compare two versions, run it from each checkout with `PYTHONPATH=<checkout>`.

    python benchmarks/evaluator_handwritten.py [--repeats 3000]
"""

from __future__ import annotations

import argparse
import json
import time

from planner_eval import score_plan


G1 = '1. get_phone_number("Maya")\n2. send_sms(["$1"], "I am running ten minutes late")\n3. join()<END_OF_PLAN>'
G2 = ('1. get_email_address("Sid")\n2. get_email_address("Nick")\n3. open_and_get_file_path("budget_q3.pdf")\n'
      '4. summarize_pdf("$3")\n5. compose_new_email(["$1", "$2"], [], "Summary", "$4", ["$3"])\n6. join()<END_OF_PLAN>')
G3 = ('1. get_zoom_meeting_link("roadmap", "2024-06-05 15:00:00", 30, [])\n2. get_phone_number("Ana")\n'
      '3. send_sms(["$2"], "$1")\n4. join()<END_OF_PLAN>')
SID_FIRST = '1. get_email_address("Sid")\n2. get_email_address("Nick")'
NICK_FIRST = '1. get_email_address("Nick")\n2. get_email_address("Sid")'
PAIRS = [
    (G1, G1),  # a copy
    (G1, G1.replace("ten", "10")),  # a wrong value
    (G1, G1.replace("Maya", "maya").replace("I am", "i am")),  # case only: equal under `normalized`
    (G2, G2),
    (G2, G2.replace(SID_FIRST, NICK_FIRST).replace('["$1", "$2"]', '["$2", "$1"]')),  # independent calls reordered
    (G2, G2.replace('"$4"', '"the summary"')),  # a dependency dropped
    (G3, G3),
    (G3, '1. get_phone_number("Ana")\n2. get_zoom_meeting_link("roadmap", "2024-06-05 15:00:00", 30, [])\n'
         '3. send_sms(["$1"], "$2")\n4. join()<END_OF_PLAN>'),  # renumbered
    (G3, G3.replace("30", "45")),  # a wrong number
    (G1, '1. send_sms(["Maya"], "late")\n2. join()<END_OF_PLAN>'),  # a missing call
    (G2, "1. summarize_pdf(\n"),  # truncated
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3000, help="how many times every pair is scored")
    args = parser.parse_args()
    verdicts = [score_plan(gold, pred).success for gold, pred in PAIRS]
    start = time.process_time()
    for _ in range(args.repeats):
        for gold, pred in PAIRS:
            score_plan(gold, pred)
    cpu = time.process_time() - start
    print(json.dumps({"pairs": len(PAIRS), "repeats": args.repeats,
                      "pairs_per_cpu_s": round(args.repeats * len(PAIRS) / cpu), "verdicts": verdicts}))


if __name__ == "__main__":
    main()
