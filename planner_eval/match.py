"""DAG isomorphism between two valid plans, with references matched through the mapping.

Each action becomes a canonical, hashable key: its tool and its arguments, where every value is
tagged with its type (so 1, True, 1.0 and "1" never meet) and a reference "$N" is replaced by the
*gold* id that N maps to. Two plans match when some bijection between their actions makes every
pair's keys equal. Since a node's key holds its incoming edges, equal keys for all pairs means the
edge sets map onto each other, i.e. an isomorphism that also respects argument positions.

Candidates are pre-filtered by colour refinement (the key without reference targets, refined by
the colours of neighbours), which rejects most mismatches before any search. When every key is
unique the mapping is forced and only checked. Otherwise a VF2-style search grows the mapping along
edges, keeping adjacency consistent both ways with what is mapped, and compares a node's full key
as soon as all its predecessors are mapped; growing along edges keeps symmetric plans (identical
lookups feeding identical actions) from turning into a search over permutations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import Any, Literal

from planner_eval.plan import REFERENCE, Action, references

ArgsMode = Literal["normalized", "strict", "ignore"]
ARGS_MODES: tuple[str, ...] = ("normalized", "strict", "ignore")

# Backtracking steps before giving up; only reachable with many interchangeable actions whose
# differences show up late. Giving up counts as "no match".
SEARCH_BUDGET = 50_000

# Stand-ins for reference targets; gold ids are never negative, so neither equals a real target.
_ANY_TARGET = -1  # in the keys that ignore where references point
_NOT_MAPPED = -2  # a prediction's reference to an action that has no gold partner yet

RefMap = Callable[[int], int]


def check_args_mode(mode: str) -> None:
    """Raise ValueError unless `mode` is one of ARGS_MODES."""
    if mode not in ARGS_MODES:
        raise ValueError(f"args mode must be one of {', '.join(ARGS_MODES)}; got {mode!r}")


def normalize_text(text: str) -> str:
    """Trim, collapse white space, case-fold: the `normalized` string comparison."""
    return " ".join(text.split()).casefold()


def value_key(value: Any, mode: str, ref_map: RefMap) -> Hashable:
    """A hashable form of a value under an args mode, tagged by type, references mapped by `ref_map`."""
    kind = type(value)  # exact types first: this is hot, and parsed values are never subclasses
    if kind is str:
        if value[:1] == "$":
            ref = REFERENCE.match(value)
            if ref is not None:
                return ("ref", ref_map(int(ref.group(1))))
        if mode != "normalized":
            return ("str", value)
        return _normalized_key(value) if len(value) <= _REMEMBERED_CHARS else ("str", normalize_text(value))
    if kind is list:
        items = [value_key(item, mode, ref_map) for item in value]
        if mode == "normalized":
            # Keys start with a type tag and equal tags carry values of one type, so they sort.
            items.sort()
        return ("list", tuple(items))
    if kind is int:
        return ("int", value)
    if kind is bool:
        return ("bool", value)
    if value is None:
        return ("none",)
    return _other_key(value, mode, ref_map)


def _other_key(value: Any, mode: str, ref_map: RefMap) -> Hashable:
    """`value_key` of any other value: floats, dicts, and subclasses of the types above."""
    if isinstance(value, bool):  # before int: bool is a subclass of int in Python
        return ("bool", value)
    for base in (str, int, list):
        if isinstance(value, base):
            return value_key(base(value), mode, ref_map)
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, dict):
        # Keys as a set (they are unique strings, so sorting by them is total); values recursively.
        return ("dict", tuple(sorted((key, value_key(item, mode, ref_map)) for key, item in value.items())))
    return ("other", repr(value))


# Names, subjects and file names recur across plans; short strings' keys are remembered, which
# bounds the memory that takes.
_REMEMBERED_CHARS = 200


@lru_cache(maxsize=16_384)
def _normalized_key(text: str) -> Hashable:
    return ("str", normalize_text(text))


def action_key(action: Action, mode: str, ref_map: RefMap) -> Hashable:
    """What must be equal for two actions to match, given where references point."""
    if mode == "ignore":
        return (action.tool, tuple(sorted({ref_map(ref) for ref in references(action.args)})))
    return (action.tool, tuple([value_key(arg, mode, ref_map) for arg in action.args]))


class _NotingPlaceholder:
    """Maps every reference to `_ANY_TARGET`, and notes whether it was asked: a key made without
    asking holds no reference, so it is the same under every mapping."""

    def __init__(self) -> None:
        self.used = False

    def __call__(self, _ref: int) -> int:
        self.used = True
        return _ANY_TARGET


def _base_keys(plan: list[Action], mode: str, unchanging: bool) -> tuple[list[Hashable], list[bool]]:
    """Each action's key with reference targets hidden, and whether that key holds a reference;
    remembered for `unchanging` actions."""
    keys, has_reference = [], []
    kept = _KEPT_BASE_KEYS[mode] if unchanging else None
    for action in plan:
        found = kept.get(id(action)) if kept is not None else None
        if found is None:
            placeholder = _NotingPlaceholder()
            found = (action, action_key(action, mode, placeholder), placeholder.used)
            if kept is not None:
                if len(kept) >= _MAX_KEPT:
                    kept.clear()
                kept[id(action)] = found  # holding the action, so that its id is not reused meanwhile
        keys.append(found[1])
        has_reference.append(found[2])
    return keys, has_reference


# Base keys of unchanging actions by the action's id: lines recur across plans, and a parsed line's
# action is shared by every plan that has it (see `shared_parse`).
_KEPT_BASE_KEYS: dict[str, dict[int, tuple[Action, Hashable, bool]]] = {mode: {} for mode in ARGS_MODES}
_MAX_KEPT = 65_536


Neighbours = tuple[list[list[int]], list[list[int]]]  # (incoming, outgoing) by position in the plan


def _colours(base_keys: Sequence[list[Hashable]], neighbours: Sequence[Neighbours]) -> list[list[int]]:
    """Colour refinement run jointly on several plans so that colours are comparable."""
    palette: dict[Hashable, int] = {}
    colours = [[palette.setdefault(key, len(palette)) for key in keys] for keys in base_keys]
    for _ in range(max(len(keys) for keys in base_keys)):
        palette = {}
        refined = [
            [
                palette.setdefault(
                    (
                        colour[i],
                        tuple(sorted(colour[j] for j in ins[i])),
                        tuple(sorted(colour[j] for j in outs[i])),
                    ),
                    len(palette),
                )
                for i in range(len(colour))
            ]
            for colour, (ins, outs) in zip(colours, neighbours)
        ]
        stable = all(len(set(new)) == len(set(old)) for new, old in zip(refined, colours))
        colours = refined
        if stable:
            break
    return colours


def _neighbour_lists(plan: list[Action]) -> Neighbours:
    """Incoming and outgoing neighbours by position in the plan (references to unknown ids skipped)."""
    position = {a.id: i for i, a in enumerate(plan)}
    ins: list[list[int]] = [[] for _ in plan]
    outs: list[list[int]] = [[] for _ in plan]
    for i, action in enumerate(plan):
        for ref in dict.fromkeys(references(action.args)):
            j = position.get(ref)
            if j is not None:
                ins[i].append(j)
                outs[j].append(i)
    return ins, outs


def plans_match(gold: list[Action], pred: list[Action], mode: str = "normalized", *, unchanging: bool = False) -> bool:
    """True when two valid plans are isomorphic as argument-labelled DAGs (see module doc).

    Both plans must be valid (unique ids, references to earlier actions); `validate` checks that.
    `unchanging` says that no action of either plan will ever change (as with the actions
    `shared_parse` gives): then what is worked out for an action is remembered for later calls.
    """
    check_args_mode(mode)
    if len(gold) != len(pred):
        return False
    if not gold:
        return True
    (gold_base, _), (pred_base, pred_has_reference) = _base_keys(gold, mode, unchanging), _base_keys(pred, mode, unchanging)
    base = [gold_base, pred_base]
    if Counter(gold_base) != Counter(pred_base):
        return False  # cheap rejection of most mismatches, before any graph work
    if len(set(gold_base)) == len(gold):
        return _forced_match(gold, pred, gold_base, pred_base, pred_has_reference, mode)
    neighbours = [_neighbour_lists(gold), _neighbour_lists(pred)]
    colours = _colours(base, neighbours)
    if Counter(colours[0]) != Counter(colours[1]):
        return False
    return _search(gold, pred, colours, neighbours, mode)


def _forced_match(
    gold: list[Action],
    pred: list[Action],
    gold_base: list[Hashable],
    pred_base: list[Hashable],
    pred_has_reference: list[bool],
    mode: str,
) -> bool:
    """When every gold key is unique the only candidate mapping pairs equal keys; just check it.
    Pairs whose keys hold no reference are equal already (their base keys are)."""
    gold_of_key = {key: a.id for key, a in zip(gold_base, gold)}
    pred_to_gold = {a.id: gold_of_key[key] for key, a in zip(pred_base, pred)}
    gold_by_id = {a.id: a for a in gold}
    mapped = _mapper(pred_to_gold)
    return all(
        action_key(a, mode, mapped) == action_key(gold_by_id[pred_to_gold[a.id]], mode, _identity)
        for a, has_reference in zip(pred, pred_has_reference)
        if has_reference
    )


def _identity(ref: int) -> int:
    return ref


def _mapper(pred_to_gold: dict[int, int]) -> RefMap:
    def mapped(ref: int) -> int:
        return pred_to_gold.get(ref, _NOT_MAPPED)

    return mapped


def _search(
    gold: list[Action],
    pred: list[Action],
    colours: Sequence[list[int]],
    neighbours: Sequence[Neighbours],
    mode: str,
) -> bool:
    """Backtracking over gold positions in `_growth_order`; positions, not ids, index everything."""
    (g_ins, g_outs), (p_ins, p_outs) = neighbours
    g_colour, p_colour = colours
    p_in_sets, p_out_sets = [set(x) for x in p_ins], [set(x) for x in p_outs]
    g_in_sets, g_out_sets = [set(x) for x in g_ins], [set(x) for x in g_outs]
    gold_keys = [action_key(a, mode, _identity) for a in gold]
    by_colour: dict[int, list[int]] = {}
    for j, colour in enumerate(p_colour):
        by_colour.setdefault(colour, []).append(j)
    order = _growth_order(g_ins, g_outs, g_colour)
    g2p = [-1] * len(gold)
    p2g = [-1] * len(pred)
    pred_to_gold: dict[int, int] = {}  # pred action id -> gold action id, for reference keys
    mapped = _mapper(pred_to_gold)
    steps = 0

    def candidates(g: int) -> list[int]:
        # Any mapped neighbour pins the candidates to the neighbours of its image.
        for h in g_ins[g]:
            if g2p[h] >= 0:
                return p_outs[g2p[h]]
        for h in g_outs[g]:
            if g2p[h] >= 0:
                return p_ins[g2p[h]]
        return by_colour[g_colour[g]]

    def consistent(g: int, p: int) -> bool:
        if any(g2p[h] >= 0 and g2p[h] not in p_in_sets[p] for h in g_ins[g]):
            return False
        if any(g2p[h] >= 0 and g2p[h] not in p_out_sets[p] for h in g_outs[g]):
            return False
        if any(p2g[q] >= 0 and p2g[q] not in g_in_sets[g] for q in p_ins[p]):
            return False
        return not any(p2g[q] >= 0 and p2g[q] not in g_out_sets[g] for q in p_outs[p])

    def keys_agree(g: int) -> bool:
        # g and its successors whose predecessors are now all mapped have fully known keys.
        for h in [g, *g_outs[g]]:
            if g2p[h] >= 0 and all(g2p[x] >= 0 for x in g_ins[h]):
                if action_key(pred[g2p[h]], mode, mapped) != gold_keys[h]:
                    return False
        return True

    def place(k: int) -> bool:
        nonlocal steps
        if k == len(order):
            return True
        g = order[k]
        for p in candidates(g):
            steps += 1
            if steps > SEARCH_BUDGET:
                return False
            if p2g[p] >= 0 or p_colour[p] != g_colour[g] or not consistent(g, p):
                continue
            g2p[g], p2g[p] = p, g
            pred_to_gold[pred[p].id] = gold[g].id
            if keys_agree(g) and place(k + 1):
                return True
            g2p[g], p2g[p] = -1, -1
            del pred_to_gold[pred[p].id]
        return False

    return place(0)


def _growth_order(ins: list[list[int]], outs: list[list[int]], colour: list[int]) -> list[int]:
    """Breadth-first over edges (either direction), each component started at its rarest colour."""
    frequency = Counter(colour)
    starts = sorted(range(len(colour)), key=lambda i: (frequency[colour[i]], i))
    seen = [False] * len(colour)
    order: list[int] = []
    for start in starts:
        if seen[start]:
            continue
        seen[start] = True
        queue = [start]
        for node in queue:  # the list grows while we walk it: a breadth-first queue
            order.append(node)
            for nxt in (*ins[node], *outs[node]):
                if not seen[nxt]:
                    seen[nxt] = True
                    queue.append(nxt)
    return order
