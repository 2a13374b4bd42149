"""Learning the ranker's weights from logged impressions and what followed them: an impression
is a success when its viewer then watched at least half of the video or liked it. The features
are the ones logged at serving time, produced by `recommend.features.features`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstack.analytics.models import WatchEvent
from reelstack.db import utcnow
from reelstack.interactions.models import VideoLike
from reelstack.recommend.features import FEATURES, vector
from reelstack.recommend.models import Impression, RankerModel
from reelstack.recommend.ranker import MODEL_KEY, Ranker, forget_memo

if TYPE_CHECKING:
    from reelstack.runtime import Runtime

log = logging.getLogger(__name__)
TRAINING_DAYS = 7
MAX_ROWS = 200_000


@dataclass(frozen=True)
class TrainingSet:
    rows: list[list[float]]
    labels: list[int]


async def training_set(session: AsyncSession) -> TrainingSet:
    since = utcnow() - timedelta(days=TRAINING_DAYS)
    shown = (
        await session.execute(
            select(
                Impression.user_id, Impression.session_id, Impression.video_id, Impression.features
            )
            .where(Impression.created_at >= since)
            .order_by(Impression.id.desc())
            .limit(MAX_ROWS)
        )
    ).all()
    users = {u for u, _, _, _ in shown if u}
    sessions = {s for u, s, _, _ in shown if s and not u}
    videos = {v for _, _, v, _ in shown}
    good: set[tuple[str, str]] = set()
    if users:
        likes = await session.execute(
            select(VideoLike.user_id, VideoLike.video_id).where(
                VideoLike.user_id.in_(users), VideoLike.video_id.in_(videos)
            )
        )
        good |= {(f"u:{u}", v) for u, v in likes}
    watched = await session.execute(
        select(WatchEvent.user_id, WatchEvent.session_id, WatchEvent.video_id).where(
            WatchEvent.created_at >= since,
            WatchEvent.video_id.in_(videos),
            WatchEvent.watched_ms * 2 >= WatchEvent.duration_ms,
            (WatchEvent.user_id.in_(users) | WatchEvent.session_id.in_(sessions)),
        )
    )
    for user_id, session_id, video_id in watched:
        good.add((f"u:{user_id}" if user_id else f"s:{session_id}", video_id))
    rows, labels = [], []
    for user_id, session_id, video_id, values in shown:
        who = f"u:{user_id}" if user_id else f"s:{session_id}"
        rows.append(vector(values))
        labels.append(1 if (who, video_id) in good else 0)
    return TrainingSet(rows, labels)


def fit(data: TrainingSet) -> tuple[Ranker, dict[str, float]] | None:
    """A logistic model over the features; None when the data cannot teach one."""
    if len(set(data.labels)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression  # heavy: only the trainer needs it
    from sklearn.metrics import roc_auc_score

    model = LogisticRegression(max_iter=500, class_weight="balanced")
    model.fit(data.rows, data.labels)
    weights = {name: float(w) for name, w in zip(FEATURES, model.coef_[0], strict=True)}
    auc = float(roc_auc_score(data.labels, model.predict_proba(data.rows)[:, 1]))
    metrics = {"auc_train": round(auc, 4), "positives": float(sum(data.labels))}
    return Ranker(weights, float(model.intercept_[0]), True), metrics


async def train(rt: Runtime) -> RankerModel | None:
    """Learn new weights if there is enough data; the new model ranks from then on."""
    async with rt.unit_of_work(write=False) as session:
        data = await training_set(session)
    if len(data.rows) < rt.settings.ranker_min_training_rows:
        return None
    fitted = fit(data)
    if fitted is None:
        return None
    ranker, metrics = fitted
    async with rt.unit_of_work() as session:
        row = RankerModel(
            weights=ranker.weights,
            intercept=ranker.intercept,
            trained_on=len(data.rows),
            metrics=metrics,
        )
        session.add(row)
        await session.flush()
        model_id = row.id
    learned = Ranker(ranker.weights, ranker.intercept, True, model_id)
    await rt.cache.set(MODEL_KEY, learned.dumps())
    forget_memo()
    log.info("ranker %s trained on %d impressions: %s", model_id, len(data.rows), metrics)
    return row
