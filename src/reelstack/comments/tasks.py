"""Background jobs of this feature; imported by every process that runs jobs."""

from __future__ import annotations

from reelstack.comments.repository import counted_comments
from reelstack.infra.counters import register_truth
from reelstack.media.models import VIDEO_COUNTERS

# The periodic reconcile recounts a video's comments from the rows: neither removed nor held.
register_truth(VIDEO_COUNTERS, "comment_count", counted_comments)
