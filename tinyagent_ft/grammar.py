"""Grammar-constrained plan decoding: an xgrammar EBNF grammar per prompt, built from the prompt's tools
and the catalog's argument types, and a logits processor that keeps every batch row inside its grammar.

What the grammar accepts (and so what a constrained model can write):

    1. tool(arg, ...)
    2. tool(arg, ...)
    3. join()<END_OF_PLAN>

- ids are 1, 2, 3, ... in order, at least one action (a prompt's tools are there to be called; a barely
  trained model otherwise learns to stop at once) and at most ``MAX_ACTIONS``; with no tools the plan is
  the empty `1. join()`;
- each tool of the prompt, arguments positional in catalog order, separated by ", ", required ones
  first, then optional ones that may stop after any of them; each argument of its JSON-schema type:
  string -> a double-quoted string (no control characters, no line separators, never `<END_OF_PLAN>`,
  escapes limited to \\" \\\\ \\n \\t \\u0024, no raw `$`, so never a reference), integer -> at most ``INT_DIGITS``
  digits without leading zeros, number -> an integer or a decimal fraction, boolean -> True/False, an
  enum -> exactly its values, arrays of these -> at most ``LIST_ITEMS`` items, `None` only where the
  catalog says ``nullable`` (or stands for an optional argument without a default, left out before a
  later one); `any` and untyped arrays have no grammar (``check_catalog_grammar`` names them);
- object -> a dict literal as planner_eval writes it, `{"unit": "celsius", "days": 3}`: the schema's
  `properties`, each value of its own type (enums, arrays and objects included), the `required` keys
  always, the optional ones when the model wants them; keys in a fixed order, required ones first, then
  optional ones, each in catalog order (planner_eval compares keys as a set, so the order costs no plan
  its meaning, and it keeps the rule linear in size and the closing walk short). An object whose schema
  lists no `properties` takes up to ``LIST_ITEMS`` string keys of scalar values (string, number,
  bool, None). Lists and objects nest at most ``MAX_DEPTH`` deep, an argument counting as 1, as the
  parser reads them;
- a copied argument (`tinyagent_ft.copying`, learnt from the training plans and given per generation)
  -> `""` or a span of the prompt's question in place of a free string, the rule `copied` of that
  question's grammar; its lists' strings too;
- a derived argument (`tinyagent_ft.moments`, learnt likewise) -> `""` or a stamp whose date and time
  the question allows (its year free), or for a duration one of the question's durations in minutes; a
  question saying none leaves the slot as its type is;
- a reference `"$N"` names only an earlier action, and fills any slot (of any type or enum, a list
  element or an object's value): its value comes at run time. Not inside a list within a list, where
  planner_eval does not count it. Action i's rule lists $1..$(i-1); a plain string (or key) can never
  spell a reference.

Closing within ``max_new_tokens``: every token carries at least one byte, so the processor reserves, per
row, the worst-case number of tokens needed to close the plan from any point (finish the current literal,
write the required members of each open object and close it, give the remaining arguments their
shortest values, end the line, write the join line, then the end-of-sequence token): for the prompt's
longest tool until a line names its tool, then for that tool (``PlanGrammar.reserve_for``). A span of
the question may only end after a whole atom, so a grammar with copied slots keeps back the question's
longest atom too, and one with derived stamps a whole stamp (``plan_reserve``). Once the tokens left
reach the reserve, the row is *closing*: each step it is forced to the one token that ends the plan
soonest (a single byte chosen by `_CLOSING_BYTES`). So a random model still ends with a complete plan
and `<END_OF_PLAN>`.

Lines: strings are unbounded in the grammar (see `_EBNF_HEADER` for why), so the processor bounds lines
instead. A row whose unfinished line could pass ``MAX_LINE_BYTES`` with its next token is forced along
the same walk until that line ends, then writes freely again; so every line stays under planner_eval's
line limit.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from planner_eval.argtypes import parse_type
from planner_eval.catalog import JOIN, Catalog, Tool, ToolArg, default_catalog
from planner_eval.parse import MAX_LINE_CHARS, MAX_LIST_DEPTH
from planner_eval.plan import END_OF_PLAN, format_literal, format_string
from tinyagent_ft.copying import atoms, copied_slots, copy_reserve, question_text
from tinyagent_ft.moments import MINUTES, derived_slots, question_minutes, stamp_suffixes

MAX_ACTIONS = 20
LIST_ITEMS = 8  # also the most keys of an object whose schema lists no properties
# Lists and objects inside one another, an argument's own counting as 1: planner_eval's parser reads no deeper.
MAX_DEPTH = MAX_LIST_DEPTH
# A line may grow to this many bytes before its row is forced to end it. The walk that ends it adds a few
# bytes per token of a tool's closing reserve (under 400), and a character is at least a byte, so every
# line stays well under planner_eval's limit.
MAX_LINE_BYTES = MAX_LINE_CHARS // 2
INT_DIGITS = 9
FRACTION_DIGITS = 6

# Shortest completion of one argument (or object member, its key aside) by the closing walk: ', ' plus the
# longest of `""`, `[]`, `1`, `True`, `"$1"` (a reference opened by the walk's quote where a string cannot
# stand), or of the arg's enum literals; an object's members come on top (`_object_close`).
_ARG_CLOSE = 2 + 4
# Finishing the literal being written: True/False/None's letters (at most 4 after the first), or a pending
# escape (`u0024` at most) plus the quote, or a number's missing fraction digit; then "]" (or the rest of
# an enum literal).
_LITERAL_CLOSE = 6
_ACTION_PREFIX = len(f"{MAX_ACTIONS}. ")
# Finishing a derived stamp from inside it: the rest of `"2026-03-11 14:00:00"` after its quote.
_STAMP_CLOSE = len('2026-03-11 14:00:00"')

# String characters leave out control characters and the line separators Python's str.splitlines()
# breaks on (parse_plan reads a plan line by line), and "<" may not start "<END_OF_PLAN>" (so it is
# followed by a character other than "E", "<" or an escape, or closes the string). Escapes: \" \\ \n \t,
# and \u0024 for `$`.
#
# A raw `$` is never part of a plain string: LLMCompiler's executor takes a dependency from `$N` or `${N}`
# anywhere in an argument's text, and planner_eval reads "$12\n" as a reference, so only the whole-string
# references of the action's rule may hold one; a dollar amount is written `\u0024`, as planner_eval's
# writers (and so the training targets) write it.
#
# Every part of a string is a character class, alone or under a star. xgrammar then decides a token
# from masks it computed once; a rule per character, an alternative of a class and an escape after the
# digits, or a bounded repetition send it through its parser for most of the vocabulary at every step:
# along 48 gold plans with SmolLM2's 49,152 tokens, 10.6 ms per mask with `unit{0,127}`, 0.017 ms now
# (benchmarks/constrained_generation.py --smollm2). Keeping `$` from only a digit or "{" took one more
# alternative in the string's loop and 4.4 ms per mask along the same plans (benchmarks/catalog_grammar.py),
# which is why `$` is left out of the class instead. Strings are unbounded here; the processor bounds
# lines instead (MAX_LINE_BYTES).
_NEVER = r"\x00-\x1f\x7f\x85\u2028\u2029$"
_PLAIN = rf"[^\"\\{_NEVER}<]"
_BODY = rf'{_PLAIN}* ((escape | "<" after_lt) {_PLAIN}*)* "<"?'
_EBNF_HEADER = rf"""
escape ::= "\\" (["\\nt] | "u0024")
after_lt ::= [^"\\{_NEVER}<E]
int ::= "0" | "-"? [1-9] [0-9]{{0,{INT_DIGITS - 1}}}
number ::= "-"? ("0" | [1-9] [0-9]{{0,{INT_DIGITS - 1}}}) ("." [0-9]{{1,{FRACTION_DIGITS}}})?
bool ::= "True" | "False"
string ::= "\"" ({_PLAIN} {_BODY} | escape {_BODY} | "<" (after_lt {_BODY})?)? "\""
"""
# Type names of planner_eval.argtypes -> the header's rule for a literal of that type.
_SCALAR_RULES = {"str": "string", "int": "int", "float": "number", "bool": "bool", "None": '"None"'}
# The values of an object whose schema lists no properties: any scalar (`number` covers integers).
_FREE_VALUES = ("string", "number", "bool", '"None"')


def _literal(text: str) -> str:
    """An EBNF string literal for ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def span_rules(question: str) -> list[str]:
    """The rules of `copied`: a string literal holding "" or a span of ``question`` (collapsed, see
    `tinyagent_ft.copying`), written as `format_string` writes it. `copy_at_K` is a span from atom K on."""
    found = atoms(question)
    rules, starts = [], []
    next_rule = False  # whether the atom after this one starts a rule (copyable, and able to end)
    for k in range(len(found) - 1, -1, -1):
        text, copyable = found[k]
        if not copyable or (text == " " and not next_rule):
            next_rule = False
            continue
        literal = _literal(format_string(text, reference=False)[1:-1])
        if text == " ":  # a span never ends on a space
            rules.append(f"copy_at_{k} ::= {literal} copy_at_{k + 1}")
        else:
            rules.append(f"copy_at_{k} ::= {literal}" + (f" copy_at_{k + 1} | {literal}" if next_rule else ""))
            starts.append(f"copy_at_{k}")
        next_rule = True
    body = f" ({' | '.join(reversed(starts))})?" if starts else ""
    return [f'copied ::= "\\""{body} "\\""', *reversed(rules)]


def derived_rules(question: str, slots: frozenset) -> tuple[list[str], dict[tuple[str, str], dict[str, str]]]:
    """The rules of the derived ``slots`` (`moments.derived_slots`) that ``question`` (collapsed) gives
    values to, and per (tool, argument) the rule that writes its strings or integers. A stamp rule
    takes `""` too, as the copied rule does, so the closing walk's shortest value stays `""`."""
    rules, overrides = [], {}
    for tool, arg, kinds in sorted(slots):
        if kinds == (MINUTES,):
            values, rule, scalar = [str(m) for m in question_minutes(question)], MINUTES, "int"
            body = " | ".join(_literal(v) for v in values)
        else:
            values, rule, scalar = stamp_suffixes(question, kinds), "stamp_" + "_".join(kinds), "str"
            body = f'"\\"" ([0-9] [0-9] [0-9] [0-9] "-" ({" | ".join(_literal(v) for v in values)}))? "\\""'
        if values:
            overrides[tool, arg] = {scalar: rule}
            rule_text = f"{rule} ::= {body}"
            if rule_text not in rules:
                rules.append(rule_text)
    return rules, overrides


def join_line(action_id: int) -> str:
    return f"{action_id}. {JOIN}(){END_OF_PLAN}"


def grammar_problem(tool: Tool) -> str | None:
    """Why no plan grammar can constrain this tool's arguments (`tool 'x', argument 'y': ...`), or None.

    A constrained argument is never left unconstrained: `any`, untyped lists and lists or objects nested
    deeper than ``MAX_DEPTH`` have no plan-literal grammar, so a catalog holding one cannot be trained
    on or served."""
    for arg in tool.args:
        try:
            _value_expression(arg, "")
        except ValueError as exc:
            return f"tool {tool.name!r}, argument {arg.name!r}: {exc}"
    return None


def check_catalog_grammar(catalog: Catalog) -> None:
    """Raise ValueError (one line) naming the first tool argument no plan grammar can express."""
    for tool in catalog.values():
        problem = grammar_problem(tool)
        if problem is not None:
            raise ValueError(f"{problem}; plans over this catalog cannot be decoded with a grammar")


def _value_expression(arg: ToolArg, reference: str, scalar_rules: Mapping[str, str] | None = None) -> str:
    """The EBNF alternatives of one argument slot; ``reference`` is the rule of the action's allowed
    `"$N"` references ("" when there are none). ``scalar_rules`` (a type name -> a rule) writes the
    slot's values of that type, its lists' items included: spans of the question, derived values."""
    alternatives = _arg_alternatives(arg, reference, depth=1, scalar_rules=scalar_rules)
    if not arg.required and not arg.has_default and '"None"' not in alternatives:
        alternatives.append('"None"')  # stands for an optional argument left out before a later one
    if reference:
        alternatives.append(reference)
    return " | ".join(alternatives)


def _arg_alternatives(arg: ToolArg, reference: str, depth: int,
                      scalar_rules: Mapping[str, str] | None = None) -> list[str]:
    """The alternatives of a value of ``arg`` (an argument or an object's property), a reference to the
    whole value aside; ``reference`` still serves the lists and objects inside it."""
    if arg.enum is not None:
        return [_literal(format_literal(value)) for value in arg.enum] + (['"None"'] if arg.nullable else [])
    return _type_alternatives(parse_type(arg.type_hint), reference, depth, arg.properties, scalar_rules=scalar_rules)


def _type_alternatives(spec, reference: str, depth: int, properties: tuple[ToolArg, ...] | None = None,
                       in_list: bool = False, scalar_rules: Mapping[str, str] | None = None) -> list[str]:
    """``depth`` counts the lists and objects around a value (an argument is at 1); ``in_list``: the
    value is an element of a list; ``scalar_rules`` writes its scalars of those types (and its list's),
    not an object's."""
    scalar_rules = scalar_rules or {}
    alternatives = []
    for alternative in spec:
        if alternative == "dict":
            alternatives.append(_object(properties, reference, depth))
            continue
        if isinstance(alternative, str):
            if alternative not in _SCALAR_RULES:
                raise ValueError(f"type {alternative} has no plan grammar")
            alternatives.append(scalar_rules.get(alternative, _SCALAR_RULES[alternative]))
            continue
        item = alternative[1]
        if item is None:
            raise ValueError("a list without an item type has no plan grammar")
        _check_depth(depth)
        # A reference counts as an argument, an element of a list, a value of an object, but not as an
        # element of a list within a list (planner_eval's `references`, LLMCompiler's executor).
        inner = "" if in_list else reference
        element = " | ".join(_type_alternatives(item, inner, depth + 1, in_list=True, scalar_rules=scalar_rules)
                             + ([inner] if inner else []))
        alternatives.append(f'("[]" | "[" ({element}) (", " ({element})){{0,{LIST_ITEMS - 1}}} "]")')
    return alternatives


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"lists and objects nested more than {MAX_DEPTH} deep have no plan grammar")


def _object(properties: tuple[ToolArg, ...] | None, reference: str, depth: int) -> str:
    """A dict literal as `format_literal` writes it: its schema's properties, required ones first, or
    (no properties) up to ``LIST_ITEMS`` string keys of scalar values. A reference fills any value."""
    _check_depth(depth)
    references = [reference] if reference else []
    if properties is None:
        member = f'string ": " ({" | ".join([*_FREE_VALUES, *references])})'
        return f'("{{}}" | "{{" {member} (", " {member}){{0,{LIST_ITEMS - 1}}} "}}")'

    def member(prop: ToolArg) -> str:
        values = " | ".join(_arg_alternatives(prop, reference, depth + 1) + references)
        return f"{_literal(format_string(prop.name, reference=False) + ': ')} ({values})"

    return _members([member(p) for p in properties if p.required], [member(p) for p in properties if not p.required])


def _members(required: list[str], optional: list[str]) -> str:
    """`{...}` over an object's members, separated by ", ": every required one, then any of the optional
    ones, each group in catalog order. planner_eval compares keys as a set, so a fixed order costs no
    plan its meaning; it keeps the rule linear in size (a member appears at most twice) and lets the
    closing walk end an object after its required members."""
    if required:
        return '"{" ' + ' ", " '.join(required) + "".join(f' (", " {m})?' for m in optional) + ' "}"'
    if not optional:
        return '"{}"'
    body = optional[0]  # at least one optional member, in order
    for member in optional[1:]:
        body = f'({body} (", " {member})? | {member})'
    return f'("{{}}" | "{{" {body} "}}")'


def _call_body(tool: Tool, slots: dict[str, str], reference: str, action: str, slot_rules: frozenset) -> str:
    """The arguments of a call and its `)`: required ones, then optional ones that may stop after any of
    them; each distinct argument slot becomes one rule of the action, named in ``slots``. ``slot_rules``
    holds (tool, argument, type name, rule): the rule that writes that slot's values of that type."""
    def slot(arg: ToolArg) -> str:
        rules = {scalar: rule for t, a, scalar, rule in slot_rules if t == tool.name and a == arg.name}
        expression = _value_expression(arg, reference, rules)
        if expression not in slots:
            slots[expression] = f"slot{action}_{len(slots)}"
        return slots[expression]

    required = [slot(a) for a in tool.args if a.required]
    optional = [slot(a) for a in tool.args if not a.required]
    tail = ""
    for position, rule in reversed(list(enumerate(optional))):
        separator = '", " ' if required or position > 0 else ""
        tail = f"({separator}{rule} {tail})?"
    body = ' ", " '.join(required)
    return " ".join(p for p in (body, tail, '")"') if p)


def _calls(tools: Sequence[Tool], slots: dict[str, str], reference: str, action: str, slot_rules: frozenset) -> str:
    """The alternatives of one action's call; tools whose arguments take the same slots share them, so
    the compiled grammar holds each argument list once per action however many tools have it."""
    by_body: dict[str, list[str]] = {}
    for tool in tools:
        by_body.setdefault(_call_body(tool, slots, reference, action, slot_rules), []).append(_literal(tool.name + "("))
    return " | ".join(f"{names[0] if len(names) == 1 else '(' + ' | '.join(names) + ')'} {body}"
                      for body, names in by_body.items())


# Stand-ins for an action's id and the next one in the rules of a generic action (see _action_rules).
_ID, _NEXT = "\u00a7", "\u00b6"


def _action_rules(tools: Sequence[Tool], action_id: int, slot_rules: frozenset) -> list[str]:
    """The rules of action ``action_id``; those of actions 2 and later differ only in their numbers and
    references, so they are made once with stand-ins for the numbers (``_generic_rules``)."""
    i = action_id
    if i == 1:
        slots: dict[str, str] = {}
        calls = _calls(tools, slots, "", "1", slot_rules)
        if not calls:
            return [f"step1 ::= {_literal(join_line(1))}"]
        return ([f'step1 ::= "1. " call1 "\\n" step2'] + [f"{name} ::= {expr}" for expr, name in slots.items()]
                + [f"call1 ::= {calls}"])
    references = " | ".join(_literal(f'"${n}"') for n in range(1, i))
    generic = _generic_rules(tuple(tools), slot_rules)
    return [f"ref{i} ::= {references}"] + [rule.replace(_ID, str(i)).replace(_NEXT, str(i + 1)) for rule in generic]


_GENERIC: dict[tuple, tuple[tuple[Tool, ...], list[str]]] = {}


def _generic_rules(tools: tuple[Tool, ...], slot_rules: frozenset) -> list[str]:
    """The rules of an action after the first, with stand-ins for its id; cached for the last few tool
    lists, since `plan_ebnf` asks for them once per action."""
    key = (tuple(map(id, tools)), slot_rules)
    found = _GENERIC.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], tools)):
        return found[1]
    slots: dict[str, str] = {}
    calls = _calls(tools, slots, f"ref{_ID}", _ID, slot_rules)
    if not calls:
        rules = [f"step{_ID} ::= {_literal(join_line(0)).replace('0', _ID, 1)}"]
    else:
        join = _literal(join_line(0)).replace("0", _ID, 1)
        rules = ([f'step{_ID} ::= {join} | "{_ID}. " call{_ID} "\\n" step{_NEXT}']
                 + [f"{name} ::= {expr}" for expr, name in slots.items()] + [f"call{_ID} ::= {calls}"])
    if len(_GENERIC) > 64:
        _GENERIC.clear()
    _GENERIC[key] = (tools, rules)
    return rules


def plan_ebnf(tools: Sequence[str], catalog: Catalog | None = None,
              copied: Mapping[str, Sequence[str]] | None = None, question: str = "",
              derived: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> str:
    """The EBNF grammar of plans over ``tools`` (names in ``catalog``, the built-in one by default;
    any order). Raises ValueError for an unknown tool or an argument type no grammar can express.
    The string values of ``copied`` arguments (tool -> argument names, `tinyagent_ft.copying`) are ""
    or spans of ``question``; those of ``derived`` ones (tool -> argument -> kinds,
    `tinyagent_ft.moments`) are the stamps or durations ``question`` allows, where it allows any."""
    known = _catalog_tools(tools, catalog)
    return _assembled_ebnf(known, *_question_rules([tool.name for tool in known], copied, derived, question))


def _assembled_ebnf(known: Sequence[Tool], question_rules: list[str], slot_rules: frozenset) -> str:
    rules = ["root ::= step1", _EBNF_HEADER.strip(), *question_rules]
    for i in range(1, MAX_ACTIONS + 1):
        rules += _action_rules(known, i, slot_rules)
    rules.append(f"step{MAX_ACTIONS + 1} ::= {_literal(join_line(MAX_ACTIONS + 1))}")
    return "\n".join(rules) + "\n"


def _question_rules(tools: Sequence[str], copied, derived, question: str) -> tuple[list[str], frozenset]:
    """The rules ``question`` adds for the copied and derived slots of ``tools``, and the slot rules
    (tool, argument, type name, rule) that use them (see `_call_body`)."""
    question = question_text(question)
    copied_here = copied_slots(copied, tools)
    rules = span_rules(question) if copied_here else []
    overrides = {slot: {"str": "copied"} for slot in copied_here}
    more_rules, derived_overrides = derived_rules(question, derived_slots(derived, tools))
    overrides.update(derived_overrides)
    return rules + more_rules, frozenset((tool, arg, scalar, rule) for (tool, arg), by_type in overrides.items()
                                         for scalar, rule in by_type.items())


def _catalog_tools(tools: Sequence[str], catalog: Catalog | None) -> list[Tool]:
    catalog = default_catalog() if catalog is None else catalog
    unknown = next((name for name in tools if name not in catalog), None)
    if unknown is not None:
        raise ValueError(f"unknown tool {unknown!r}: a plan grammar takes catalog tools only")
    known = [catalog[name] for name in sorted(set(tools))]
    problem = next((p for p in map(grammar_problem, known) if p is not None), None)
    if problem is not None:
        raise ValueError(problem)
    return known


def _longest_enum_literal(args: Sequence[ToolArg]) -> int:
    return max((len(format_literal(v).encode()) for a in args for v in (a.enum or ())), default=0)


def _with_properties(args: Sequence[ToolArg]) -> list[ToolArg]:
    """``args`` and, recursively, the properties of their objects."""
    return [inner for arg in args for inner in (arg, *_with_properties(arg.properties or ()))]


def _call_close(tool: Tool) -> int:
    """Bytes the walk may write to finish a line calling ``tool`` from any point inside it."""
    longest = _longest_enum_literal(tool.args)
    everywhere = _with_properties(tool.args)
    nested = max((a.type_hint.count("list[") - 1 for a in everywhere), default=0)  # a "]" per inner list
    arguments = sum(max(_ARG_CLOSE, 2 + longest) + _object_close(a) for a in tool.args)
    return (len(tool.name) + 1 + arguments + 1
            + max(_LITERAL_CLOSE, _longest_enum_literal(everywhere) + 1) + max(0, nested))


def _object_close(arg: ToolArg) -> int:
    """Bytes the walk may write for an object value of ``arg``, from its start or from inside it to its
    `}`, besides finishing the literal it is in: the braces, every required member and one optional one
    (the one being written, or the one a quote after `{` opens when none is required)."""
    if "dict" not in parse_type(arg.type_hint):
        return 0
    if arg.properties is None:
        return len('{"": ""}')  # `""` for a key and for its value
    members = [(_member_close(prop), prop.required) for prop in arg.properties]
    optional = max((cost for cost, required in members if not required), default=0)
    return 2 + sum(cost for cost, required in members if required) + optional


def _member_close(prop: ToolArg) -> int:
    """`, "key": ` and the value's shortest form (as for an argument, an object's own members included)."""
    key = len(format_string(prop.name, reference=False).encode()) + 2
    return key + max(_ARG_CLOSE, 2 + _longest_enum_literal([prop])) + _object_close(prop)


def closing_reserve(tools: Sequence[str], catalog: Catalog | None = None) -> int:
    """Tokens enough to close a plan over ``tools`` from any point of the grammar (see the module doc)."""
    known = _catalog_tools(tools, catalog)
    longest_call = max((_call_close(t) for t in known), default=0)
    end_of_line = 1
    end_of_sequence = 1
    return _ACTION_PREFIX + longest_call + end_of_line + len(join_line(MAX_ACTIONS + 1)) + end_of_sequence


def plan_reserve(tools: Sequence[str], catalog: Catalog | None = None,
                 copied: Mapping[str, Sequence[str]] | None = None, question: str = "",
                 derived: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> int:
    """`closing_reserve`, plus what finishing a span of ``question`` may take where ``copied`` slots
    are among ``tools``, or a stamp where ``derived`` ones are: the fewest tokens ``max_new_tokens``
    may be for such a plan."""
    return closing_reserve(tools, catalog) + _question_reserve(tools, copied, derived, question)


def catalog_reserve(catalog: Catalog, copied: Mapping[str, Sequence[str]] | None,
                    derived: Mapping[str, Mapping[str, Sequence[str]]] | None, questions: Sequence[str]) -> int:
    """The largest `plan_reserve` of a plan over any of ``catalog``'s tools for any of ``questions``."""
    tools = list(catalog)
    return closing_reserve(tools, catalog) + max((_question_reserve(tools, copied, derived, q) for q in questions),
                                                 default=0)


def _question_reserve(tools: Sequence[str], copied, derived, question: str) -> int:
    """Tokens the copied and derived slots of ``tools`` may add to the closing walk (one literal is
    open at a time, so the larger of the two)."""
    extra = copy_reserve(question_text(question)) if copied_slots(copied, tools) else 0
    if any(kinds != (MINUTES,) for _, _, kinds in derived_slots(derived, tools)):
        extra = max(extra, _STAMP_CLOSE)
    return extra


_LINE_TOOL = re.compile(rb"\d+\. (\w+)\(")  # the start of an action line, naming its tool
_OPENED_STRING = re.compile(rb"\d+\. (\w+)\(\"")  # a line that has just opened its first argument's string


@dataclass(frozen=True)
class PlanGrammar:
    compiled: object  # xgrammar.CompiledGrammar
    reserve: int  # tokens kept back to close the plan from anywhere (closing_reserve of all its tools)
    tool_reserves: dict[str, int]  # the same, once the line being written is known to call this tool
    single_argument_tools: frozenset[str] = frozenset()  # a call of one never repeats an earlier call

    def reserve_for(self, line: bytes) -> int:
        """Tokens to keep back while ``line`` (the current, unfinished line) is being written."""
        call = _LINE_TOOL.match(line)
        return self.tool_reserves.get(call.group(1).decode(), self.reserve) if call else self.reserve


# The order the closing walk prefers bytes in. A quote first: it ends an open string (or, at an argument
# start, opens the shortest one; after `{`, a key); then closers and separators, "}" before ",", so an
# object ends once its required members are written; "[" and "{" open the shortest list or object where
# no quote may; 'j' picks join() at a line start; 'T' the shortest bool; '1' the shortest int (also after
# a '-'). Where none of these is allowed the walk takes the shortest allowed token (the forced letters of
# a tool name or an object's key, True/False/None, the join line, EOS).
_CLOSING_BYTES = (b'"', b")", b"]", b"}", b",", b"[", b"{", b"\n", b"j", b"T", b"1", b" ", b".")


# Grammars for one question kept per tokenizer: a served batch, or a generation batch, at least.
_QUESTION_GRAMMARS = 256


class PlanGrammars:
    """Compiled plan grammars for one tokenizer and vocabulary size, cached by tool set."""

    def __init__(self, tokenizer, vocab_size: int):
        import xgrammar

        stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else None
        self.info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop)
        self.compiler = xgrammar.GrammarCompiler(self.info, max_threads=1)
        self.vocab_size = vocab_size
        self._cache: dict[tuple, PlanGrammar] = {}
        self._per_question: list[tuple] = []  # keys of the cached grammars made for one question, oldest first
        vocab = self.info.decoded_vocab
        self.pieces: list[bytes] = vocab  # each token's bytes
        # Token lengths in bytes, for the closing walk's fallback; stop tokens count as the shortest.
        lengths = ([len(piece) or 1 for piece in vocab] + [1 << 20] * vocab_size)[:vocab_size]
        for stop_id in self.info.stop_token_ids:
            lengths[stop_id] = 0
        self.token_bytes = torch.tensor(lengths, dtype=torch.float32)
        self.longest_piece = max(len(piece) for piece in vocab)
        # Several tokens may spell the same byte (byte-fallback vocabularies): the lowest id wins.
        single = {piece: i for i, piece in reversed(list(enumerate(vocab))) if len(piece) == 1}
        self.closing_tokens = [single[b] for b in _CLOSING_BYTES if b in single]

    def get(self, tools: Sequence[str], catalog: Catalog | None = None,
            copied: Mapping[str, Sequence[str]] | None = None, question: str = "",
            derived: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> PlanGrammar:
        """The compiled grammar of plans over ``tools`` of ``catalog`` (the built-in one by default),
        the values of ``copied`` and ``derived`` arguments held to what ``question`` allows (see
        `plan_ebnf`)."""
        names = tuple(sorted(set(tools)))
        question_rules, slot_rules = _question_rules(names, copied, derived, question)
        # A grammar with question-bound slots serves one question: those are kept for the last few only.
        key = (names, _schema_key(names, catalog), slot_rules, question_text(question) if slot_rules else "")
        grammar = self._cache.get(key)
        if grammar is None:
            known = _catalog_tools(names, catalog)
            extra = _question_reserve(names, copied, derived, question)
            ebnf = _assembled_ebnf(known, question_rules, slot_rules)
            grammar = PlanGrammar(self.compiler.compile_grammar(ebnf), closing_reserve(names, catalog) + extra,
                                  {tool: closing_reserve([tool], catalog) + extra for tool in names},
                                  frozenset(t.name for t in known if len(t.args) == 1))
            if slot_rules:
                while len(self._per_question) >= _QUESTION_GRAMMARS:
                    self._cache.pop(self._per_question.pop(0), None)
                self._per_question.append(key)
            self._cache[key] = grammar
        return grammar


def _schema_key(names: tuple[str, ...], catalog: Catalog | None) -> tuple | None:
    """What a grammar depends on in the tools' schemas: two catalogs agreeing on it share the grammar
    (a served catalog and a request naming its tools, say). None for the built-in catalog."""
    if catalog is None or catalog is default_catalog():
        return None
    unknown = next((name for name in names if name not in catalog), None)
    if unknown is not None:
        raise ValueError(f"unknown tool {unknown!r}: a plan grammar takes catalog tools only")
    return tuple((name, tuple((a.type_hint, a.required, a.has_default, repr(a.enum), repr(a.properties))
                              for a in catalog[name].args))
                 for name in names)


_GRAMMARS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan_grammars(tokenizer, vocab_size: int) -> PlanGrammars:
    """The grammar cache shared by every generation with this tokenizer (built on first use)."""
    per_size = _GRAMMARS.setdefault(tokenizer, {})
    if vocab_size not in per_size:
        per_size[vocab_size] = PlanGrammars(tokenizer, vocab_size)
    return per_size[vocab_size]


class PlanLogitsProcessor(LogitsProcessor):
    """Masks each row's logits to its own plan grammar; one instance per `generate` call.

    Unlike `xgrammar.contrib.hf.LogitsProcessor` it lets finished rows be padded (their matchers are
    done and their logits left alone) and forces the closing walk near the token budget. Left padding
    needs nothing special: only the newest token of each row is read.
    """

    def __init__(self, grammars: PlanGrammars, rows: Sequence[PlanGrammar], max_new_tokens: int):
        import xgrammar

        self.grammars = grammars
        self.rows = list(rows)
        self.matchers = [xgrammar.GrammarMatcher(row.compiled) for row in self.rows]
        self.batch_matcher = xgrammar.BatchGrammarMatcher()  # fills the rows' masks on several threads
        self.bitmask = xgrammar.allocate_token_bitmask(len(self.rows), grammars.vocab_size)
        self.max_new_tokens = max_new_tokens
        self.lines = [b""] * len(self.rows)  # each row's unfinished line, to know which tool it calls
        self.calls: list[list[bytes]] = [[] for _ in self.rows]  # each row's finished lines
        self.prompt_length: int | None = None
        self.forced_tokens = 0  # how many tokens the closing walk chose, over all rows
        self.seconds = 0.0  # time spent in this processor: the grammar's share of generation

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        start = time.perf_counter()
        try:
            return self._mask(input_ids, scores)
        finally:
            self.seconds += time.perf_counter() - start

    def _mask(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import xgrammar

        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        else:
            self._accept(input_ids[:, -1].tolist())
        active = [row for row, matcher in enumerate(self.matchers) if not matcher.is_terminated()]
        if not active:
            return scores
        self.batch_matcher.batch_fill_next_token_bitmask([self.matchers[row] for row in active], self.bitmask, active)
        # xgrammar masks on CPU and CUDA only; finished rows are left alone (generate() pads them).
        on_device = scores.device.type in ("cpu", "cuda")
        masked = scores if on_device else scores.cpu()
        xgrammar.apply_token_bitmask_inplace(masked, self.bitmask.to(masked.device), indices=active)
        tokens_left = self.max_new_tokens - (input_ids.shape[1] - self.prompt_length)
        for row in active:
            line = self.lines[row]
            if (tokens_left <= self.rows[row].reserve_for(line)
                    or len(line) + self.grammars.longest_piece > MAX_LINE_BYTES):
                self._force(masked, row)
            else:
                self._block_repeated_call(masked, row)
        return masked if on_device else masked.to(scores.device)

    def _accept(self, tokens: list[int]) -> None:
        for row, (matcher, token) in enumerate(zip(self.matchers, tokens)):
            if matcher.is_terminated():
                continue
            if not matcher.accept_token(token):
                raise RuntimeError(f"token {token} left the plan grammar (another processor or stop rule interfered)")
            *finished, self.lines[row] = (self.lines[row] + self.grammars.pieces[token]).split(b"\n")
            self.calls[row] += finished

    def _block_repeated_call(self, scores: torch.Tensor, row: int) -> None:
        """Where a row has just opened the string argument of a one-argument tool it called before,
        drop the tokens that would begin (or be) an earlier call's argument, so the call names something
        new: an identical call adds nothing to a plan, and a small model repeats a lookup's name ("Rafael"
        twice for "Rafael, Sean and Michael") far more often than it skips one. A row with no other token
        left keeps them all."""
        opened = _OPENED_STRING.fullmatch(self.lines[row])
        if opened is None or opened.group(1).decode() not in self.rows[row].single_argument_tools:
            return
        head = opened.group(1) + b'("'
        earlier = [rest[len(head):] for line in self.calls[row]
                   for rest in [line.partition(b". ")[2]] if rest.startswith(head)]
        if not earlier:
            return
        allowed = torch.isfinite(scores[row]).nonzero().flatten().tolist()
        pieces = self.grammars.pieces
        blocked = [t for t in allowed if pieces[t] and any(
            rest.startswith(pieces[t]) or pieces[t].startswith(rest) for rest in earlier)]
        if blocked and len(blocked) < len(allowed):
            scores[row, blocked] = -torch.inf

    def _allowed(self, row: int) -> torch.Tensor:
        import xgrammar

        allowed = torch.zeros(1, self.grammars.vocab_size)
        xgrammar.apply_token_bitmask_inplace(allowed, self.bitmask[row : row + 1])
        return torch.isfinite(allowed[0])

    def _force(self, scores: torch.Tensor, row: int) -> None:
        """Leave the row one token: the closing walk's next step."""
        allowed = self._allowed(row)
        token = next((t for t in self.grammars.closing_tokens if allowed[t]), None)
        if token is None:
            token = int(torch.argmin(torch.where(allowed, self.grammars.token_bytes, torch.inf)))
        scores[row].fill_(-torch.inf)
        scores[row, token] = 0.0
        self.forced_tokens += 1
