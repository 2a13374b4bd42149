"""Every feature's tables on one metadata, for Alembic and the test schema checks."""

from reelstack.accounts import models as accounts_models
from reelstack.analytics import models as analytics_models
from reelstack.comments import models as comments_models
from reelstack.db import Base
from reelstack.interactions import models as interactions_models
from reelstack.media import models as media_models
from reelstack.notifications import models as notifications_models
from reelstack.recommend import models as recommend_models
from reelstack.search import models as search_models
from reelstack.social import models as social_models
from reelstack.sounds import models as sounds_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "analytics_models",
    "comments_models",
    "interactions_models",
    "media_models",
    "metadata",
    "notifications_models",
    "recommend_models",
    "search_models",
    "social_models",
    "sounds_models",
]
