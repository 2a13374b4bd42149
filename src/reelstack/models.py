"""Every feature's tables on one metadata, for Alembic and the test schema checks."""

from reelstack.accounts import models as accounts_models
from reelstack.db import Base
from reelstack.media import models as media_models
from reelstack.social import models as social_models

metadata = Base.metadata

__all__ = ["accounts_models", "media_models", "metadata", "social_models"]
