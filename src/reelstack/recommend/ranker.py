"""Scores candidates from their features: the transparent weighted sum until the training job
has learned weights, then a logistic model over the same features."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from reelstack.recommend.features import DEFAULT_WEIGHTS, FEATURES
from reelstack.recommend.models import RankerModel

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

MODEL_KEY = "recommend:model"
MEMO_SECONDS = 60.0


@dataclass(frozen=True)
class Ranker:
    weights: dict[str, float]
    intercept: float = 0.0
    learned: bool = False
    version: str = "default"

    def score(self, values: dict[str, float]) -> float:
        total = self.intercept + sum(w * values.get(n, 0.0) for n, w in self.weights.items())
        if not self.learned:
            return total
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, total))))

    def dumps(self) -> str:
        return json.dumps(
            {"weights": self.weights, "intercept": self.intercept, "version": self.version}
        )


DEFAULT_RANKER = Ranker(dict(DEFAULT_WEIGHTS))
_memo: dict[int, tuple[float, Ranker]] = {}


async def current_ranker(rt: Runtime) -> Ranker:
    """The newest learned model (cache, then database), or the default weights."""
    memo = _memo.get(id(rt))
    if memo is not None and time.monotonic() - memo[0] < MEMO_SECONDS:
        return memo[1]
    ranker = DEFAULT_RANKER
    raw = await rt.cache.get(MODEL_KEY)
    if raw is None:
        async with rt.unit_of_work(write=False) as session:
            row = await session.scalar(
                select(RankerModel).order_by(RankerModel.created_at.desc()).limit(1)
            )
        if row is not None:
            ranker = Ranker(row.weights, row.intercept, True, row.id)
            await rt.cache.set(MODEL_KEY, ranker.dumps())
    elif raw:
        data = json.loads(raw)
        weights = {k: float(v) for k, v in data["weights"].items() if k in FEATURES}
        ranker = Ranker(weights, float(data["intercept"]), True, str(data["version"]))
    _memo[id(rt)] = (time.monotonic(), ranker)
    return ranker


def forget_memo() -> None:
    _memo.clear()
