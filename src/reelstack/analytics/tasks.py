"""Background jobs of this feature; imported by every process that runs jobs."""

from __future__ import annotations
