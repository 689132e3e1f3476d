"""The in-context example index: training queries, their tool sets and plans, and their sentence embeddings.

Stored as safetensors (the embedding matrix) plus JSON (queries, tools, plans) so loading never runs code.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from retriever import labels

EMBEDDINGS_FILE = "embeddings.safetensors"
ENTRIES_FILE = "examples.json"

# Ranking key tiers (see ExampleIndex.search). A Jaccard value over at most 16 tools differs from
# another by at least 1/256, and a cosine spans 2, so scaling Jaccard by 1024 keeps the two ordered
# lexicographically; float64 keeps the cosine's precision at these magnitudes. Over n tools the gap is at
# least 1/n^2, so larger catalogs scale by 4n^2 (see ExampleIndex.search).
_JACCARD_SCALE = 1024.0


@dataclass
class Example:
    id: str
    query: str
    tools: list[str]
    plan: str  # the record's plan text, as the planner writes it
    score: float = 0.0  # cosine similarity to the query it was retrieved for
    duplicate_ids: list[str] = field(default_factory=list)  # records with the same query, merged into this one

    @property
    def example(self) -> str:
        """The in-context example as a prompt shows it: query, then plan."""
        return format_example(self.query, self.plan)


def format_example(query: str, plan: str) -> str:
    return f"Question: {query.strip()}\n{plan.strip()}"


def _normalized(query: str) -> str:
    return " ".join(query.casefold().split())


class ExampleIndex:
    def __init__(self, entries: list[Example], embeddings: torch.Tensor, embedder: str,
                 tool_names: Sequence[str] | None = None):
        if len(entries) != len(embeddings):
            raise ValueError(f"{len(entries)} examples but {len(embeddings)} embeddings")
        self.entries = entries
        self.embeddings = embeddings.float()
        self.embedder = embedder
        # The label space of the allowed-tool matrices searches get: the classifier's tools.
        self.tool_names = labels.default_names() if tool_names is None else tuple(tool_names)
        self.tool_hot = labels.encode([e.tools for e in entries], self.tool_names)
        # Excluding a record must also exclude the entry its duplicate query was merged into.
        self._position: dict[str, int] = {}
        for position, entry in enumerate(entries):
            for record_id in (entry.id, *entry.duplicate_ids):
                self._position[record_id] = position

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        queries: Sequence[str],
        tools: Sequence[Sequence[str]],
        plans: Sequence[str],
        embed,
        embedder_name: str,
        tool_names: Sequence[str] | None = None,
    ) -> ExampleIndex:
        """Index the records, one entry per distinct query (case and spacing ignored), embedded with `embed`;
        their tools are names of ``tool_names`` (the built-in catalog's by default)."""
        if not len(ids) == len(queries) == len(tools) == len(plans):
            raise ValueError("ids, queries, tools and plans must have the same length")
        entries: list[Example] = []
        first_seen: dict[str, Example] = {}
        for record_id, query, record_tools, plan in zip(ids, queries, tools, plans):
            labels.check_tools(record_tools, tool_names)
            key = _normalized(query)
            if key in first_seen:
                first_seen[key].duplicate_ids.append(str(record_id))
                continue
            entry = Example(str(record_id), query, list(record_tools), plan.strip())
            first_seen[key] = entry
            entries.append(entry)
        return cls(entries, embed([e.query for e in entries]), embedder_name, tool_names)

    def search(
        self,
        query_embeddings: torch.Tensor,
        allowed_tools: torch.Tensor,
        k: int,
        exclude_ids: Sequence[str | Collection[str] | None] | None = None,
    ) -> list[list[Example]]:
        """The k best examples per query, ranked in tiers with one matrix product per batch.

        Examples whose tools are all in the query's allowed set come first, by cosine; when there are
        fewer than k of them the rest are filled by tool-set Jaccard overlap, then cosine.
        """
        n_queries = len(query_embeddings)
        if exclude_ids is not None and len(exclude_ids) != n_queries:
            raise ValueError(f"exclude_ids has {len(exclude_ids)} entries for {n_queries} queries")
        if k <= 0 or not self.entries:
            return [[] for _ in range(n_queries)]
        cosine = (query_embeddings.float() @ self.embeddings.T).double()
        allowed = allowed_tools.double()
        tools = self.tool_hot.double()
        outside = (1.0 - allowed) @ tools.T  # example tools the query's set lacks
        shared = allowed @ tools.T
        union = allowed.sum(1, keepdim=True) + tools.sum(1) - shared
        jaccard = shared / union.clamp(min=1.0)
        scale = max(_JACCARD_SCALE, 4.0 * len(self.tool_names) ** 2)
        key = torch.where(outside == 0, 4 * scale + cosine, scale * jaccard + cosine)
        self._mask_excluded(key, exclude_ids)
        top_key, top_pos = key.topk(min(k, len(self.entries)), dim=1)
        results = []
        for row in range(n_queries):
            kept = torch.isfinite(top_key[row])
            results.append(
                [self._hit(pos, float(cosine[row, pos])) for pos in top_pos[row][kept].tolist()]
            )
        return results

    def _mask_excluded(self, key: torch.Tensor, exclude_ids: Sequence[str | Collection[str] | None] | None) -> None:
        if exclude_ids is None:
            return
        rows, cols = [], []
        for row, excluded in enumerate(exclude_ids):
            if excluded is None:
                continue
            for record_id in [excluded] if isinstance(excluded, str) else excluded:
                position = self._position.get(str(record_id))
                if position is not None:
                    rows.append(row)
                    cols.append(position)
        if rows:
            key[rows, cols] = float("-inf")

    def _hit(self, position: int, score: float) -> Example:
        entry = self.entries[position]
        return Example(entry.id, entry.query, list(entry.tools), entry.plan, score, list(entry.duplicate_ids))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"embeddings": self.embeddings.contiguous()}, str(directory / EMBEDDINGS_FILE))
        # "example" (the formatted query + plan) is written for readers of the file; load derives it.
        records = [{**{k: v for k, v in asdict(e).items() if k != "score"}, "example": e.example} for e in self.entries]
        payload = {"embedder": self.embedder, "tool_names": list(self.tool_names), "examples": records}
        (directory / ENTRIES_FILE).write_text(json.dumps(payload, ensure_ascii=False))

    @classmethod
    def load(cls, directory: str | Path) -> ExampleIndex:
        directory = Path(directory)
        for name in (EMBEDDINGS_FILE, ENTRIES_FILE):
            if not (directory / name).is_file():
                raise OSError(f"example index in {directory} is missing {name}")
        payload = json.loads((directory / ENTRIES_FILE).read_text())
        entries = [Example(**{k: v for k, v in record.items() if k != "example"}) for record in payload["examples"]]
        embeddings = load_file(str(directory / EMBEDDINGS_FILE))["embeddings"]
        # An index saved before catalogs travelled with it was built on the built-in tools.
        return cls(entries, embeddings, payload["embedder"], payload.get("tool_names"))
