"""Grammar-constrained plan decoding: an xgrammar EBNF grammar per prompt, built from the prompt's tools
and the catalog's argument types, and a logits processor that keeps every batch row inside its grammar.

What the grammar accepts (and so what a constrained model can write):

    1. tool(arg, ...)
    2. tool(arg, ...)
    3. join()<END_OF_PLAN>

- ids are 1, 2, 3, ... in order, at least one action (a prompt's tools are there to be called; a barely
  trained model otherwise learns to stop at once) and at most ``MAX_ACTIONS``; with no tools the plan is
  the empty `1. join()`;
- each tool of the prompt, arguments positional in catalog order, separated by ", ", each of its type:
  str -> a double-quoted string (no control characters, no line separators, never `<END_OF_PLAN>`,
  escapes limited to \\" \\\\ \\n \\t), int -> at most ``INT_DIGITS`` digits without leading zeros,
  bool -> True/False, list[str] -> at most ``LIST_ITEMS`` strings, `None` only where the catalog says
  ``nullable``;
- a reference `"$N"` (a whole str argument or a list element) names only an earlier action: action i's
  rule lists $1..$(i-1), and a plain string can never spell a reference.

Closing within ``max_new_tokens``: every token carries at least one byte, so the processor reserves, per
row, the worst-case number of tokens needed to close the plan from any point (finish the current literal,
give the remaining arguments their shortest values, end the line, write the join line, then the
end-of-sequence token): for the prompt's longest tool until a line names its tool, then for that tool
(``PlanGrammar.reserve_for``). Once the tokens left reach the reserve, the row is *closing*: each step
it is forced to the one token that ends the plan soonest (a single byte chosen by `_CLOSING_BYTES`). So a
random model still ends with a complete plan and `<END_OF_PLAN>`.

Lines: strings are unbounded in the grammar (see `_EBNF_HEADER` for why), so the processor bounds lines
instead. A row whose unfinished line could pass ``MAX_LINE_BYTES`` with its next token is forced along
the same walk until that line ends, then writes freely again; so every line stays under planner_eval's
line limit.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from planner_eval.catalog import JOIN, TOOLS, Tool, ToolArg
from planner_eval.parse import MAX_LINE_CHARS
from planner_eval.plan import END_OF_PLAN

MAX_ACTIONS = 20
LIST_ITEMS = 8
# A line may grow to this many bytes before its row is forced to end it. The walk that ends it adds a few
# bytes per token of a tool's closing reserve (under 400), and a character is at least a byte, so every
# line stays well under planner_eval's limit.
MAX_LINE_BYTES = MAX_LINE_CHARS // 2
INT_DIGITS = 9

# Shortest completion of one argument by the closing walk: ', ' plus the longest of `""`, `[]`, `1`, `True`.
_ARG_CLOSE = 2 + 4
# Finishing the literal being written: True/False/None's letters (at most 4 after the first), or a pending
# escape plus the quote, or a reference-like "$12" that needs a non-digit before its quote; then "]".
_LITERAL_CLOSE = 4 + 1
_ACTION_PREFIX = len(f"{MAX_ACTIONS}. ")

# String characters leave out control characters and the line separators Python's str.splitlines()
# breaks on (parse_plan reads a plan line by line), and "<" may not start "<END_OF_PLAN>" (so it is
# followed by a character other than "E", "<" or an escape, or closes the string). Escapes: \" \\ \n \t.
# A string that starts with "$" and digits goes on with a printable ASCII non-digit (not an escape):
# planner_eval reads "$12\n" and "$1" plus an Arabic-Indic digit as references.
#
# Every part of a string is a character class, alone or under a star. xgrammar then decides a token
# from masks it computed once; a rule per character, an alternative of a class and an escape after the
# digits, or a bounded repetition send it through its parser for most of the vocabulary at every step:
# along 48 gold plans with SmolLM2's 49,152 tokens, 10.6 ms per mask with `unit{0,127}`, 0.017 ms now
# (benchmarks/constrained_generation.py --smollm2).
# So strings are unbounded here; the processor bounds lines instead (MAX_LINE_BYTES).
_NEVER = r"\x00-\x1f\x7f\x85\u2028\u2029"
_PLAIN = rf"[^\"\\{_NEVER}<]"
_AFTER_DIGITS = r"[\x20-\x21\x23-\x2f\x3a-\x3b\x3d-\x5b\x5d-\x7e]"
_BODY = rf'{_PLAIN}* ((escape | "<" after_lt) {_PLAIN}*)* "<"?'
_EBNF_HEADER = rf"""
escape ::= "\\" ["\\nt]
after_lt ::= [^"\\{_NEVER}<E]
int ::= "0" | "-"? [1-9] [0-9]{{0,{INT_DIGITS - 1}}}
bool ::= "True" | "False"
string ::= "\"" ([^"\\{_NEVER}<$] {_BODY} | escape {_BODY} | "<" (after_lt {_BODY})? | "$" ([0-9]* {_AFTER_DIGITS} {_BODY})?)? "\""
"""


def _literal(text: str) -> str:
    """An EBNF string literal for plain ASCII text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def join_line(action_id: int) -> str:
    return f"{action_id}. {JOIN}(){END_OF_PLAN}"


def _argument_rule(arg: ToolArg, action_id: int) -> str:
    text, items = f"text{action_id}", f"items{action_id}"
    rule = {"str": text, "int": "int", "bool": "bool", "list[str]": items}.get(arg.type)
    if rule is None:
        raise ValueError(f"no grammar for argument type {arg.type!r} ({arg.name})")
    return f"({rule} | \"None\")" if arg.nullable else rule


def _call_rule(tool: Tool, action_id: int) -> str:
    args = ' ", " '.join(_argument_rule(arg, action_id) for arg in tool.args)
    return f'{_literal(tool.name + "(")} {args} ")"' if args else _literal(tool.name + "()")


def _action_rules(tools: Sequence[Tool], action_id: int) -> list[str]:
    i = action_id
    references = " | ".join(_literal(f'"${n}"') for n in range(1, i))
    either = f" | ref{i}" if references else ""
    calls = " | ".join(_call_rule(tool, i) for tool in tools)
    call_line = f"{_literal(f'{i}. ')} call{i} \"\\n\" step{i + 1}"
    if not calls:
        step = _literal(join_line(i))
    elif i == 1:
        step = call_line
    else:
        step = f"{_literal(join_line(i))} | {call_line}"
    rules = [f"step{i} ::= {step}", f"text{i} ::= string{either}", f"element{i} ::= string{either}",
             f"items{i} ::= \"[]\" | \"[\" element{i} (\", \" element{i}){{0,{LIST_ITEMS - 1}}} \"]\""]
    if references:
        rules.append(f"ref{i} ::= {references}")
    if calls:
        rules.append(f"call{i} ::= {calls}")
    return rules


def plan_ebnf(tools: Sequence[str]) -> str:
    """The EBNF grammar of plans over ``tools`` (catalog names, any order)."""
    known = [_catalog_tool(name) for name in sorted(set(tools))]
    rules = ["root ::= step1", _EBNF_HEADER.strip()]
    for i in range(1, MAX_ACTIONS + 1):
        rules += _action_rules(known, i)
    rules.append(f"step{MAX_ACTIONS + 1} ::= {_literal(join_line(MAX_ACTIONS + 1))}")
    return "\n".join(rules) + "\n"


def _catalog_tool(name: str) -> Tool:
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}: a plan grammar takes catalog tools only")
    return TOOLS[name]


def closing_reserve(tools: Sequence[str]) -> int:
    """Tokens enough to close a plan over ``tools`` from any point of the grammar (see the module doc)."""
    known = [_catalog_tool(name) for name in set(tools)]
    longest_call = max((len(t.name) + 1 + _ARG_CLOSE * len(t.args) + 1 for t in known), default=0)
    end_of_line = 1
    end_of_sequence = 1
    return (_ACTION_PREFIX + longest_call + _LITERAL_CLOSE + end_of_line
            + len(join_line(MAX_ACTIONS + 1)) + end_of_sequence)


_LINE_TOOL = re.compile(rb"\d+\. (\w+)\(")  # the start of an action line, naming its tool


@dataclass(frozen=True)
class PlanGrammar:
    compiled: object  # xgrammar.CompiledGrammar
    reserve: int  # tokens kept back to close the plan from anywhere (closing_reserve of all its tools)
    tool_reserves: dict[str, int]  # the same, once the line being written is known to call this tool

    def reserve_for(self, line: bytes) -> int:
        """Tokens to keep back while ``line`` (the current, unfinished line) is being written."""
        call = _LINE_TOOL.match(line)
        return self.tool_reserves.get(call.group(1).decode(), self.reserve) if call else self.reserve


# The order the closing walk prefers bytes in. A quote first: it ends an open string (or, at an argument
# start, opens the shortest one); then closers and separators; 'j' picks join() at a line start; 'T' the
# shortest bool; '1' the shortest int (also after a '-'). Where none of these is allowed the walk takes
# the shortest allowed token (the forced letters of a tool name, True/False/None, the join line, EOS).
_CLOSING_BYTES = (b'"', b")", b"]", b",", b"[", b"\n", b"j", b"T", b"1", b" ", b".")


class PlanGrammars:
    """Compiled plan grammars for one tokenizer and vocabulary size, cached by tool set."""

    def __init__(self, tokenizer, vocab_size: int):
        import xgrammar

        stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else None
        self.info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop)
        self.compiler = xgrammar.GrammarCompiler(self.info, max_threads=1)
        self.vocab_size = vocab_size
        self._cache: dict[tuple[str, ...], PlanGrammar] = {}
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

    def get(self, tools: Sequence[str]) -> PlanGrammar:
        key = tuple(sorted(set(tools)))
        grammar = self._cache.get(key)
        if grammar is None:
            grammar = PlanGrammar(self.compiler.compile_grammar(plan_ebnf(key)), closing_reserve(key),
                                  {tool: closing_reserve([tool]) for tool in key})
            self._cache[key] = grammar
        return grammar


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
        return masked if on_device else masked.to(scores.device)

    def _accept(self, tokens: list[int]) -> None:
        for row, (matcher, token) in enumerate(zip(self.matchers, tokens)):
            if matcher.is_terminated():
                continue
            if not matcher.accept_token(token):
                raise RuntimeError(f"token {token} left the plan grammar (another processor or stop rule interfered)")
            self.lines[row] = (self.lines[row] + self.grammars.pieces[token]).rpartition(b"\n")[2]

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
