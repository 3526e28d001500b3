"""Request and response bodies. Unknown fields are refused (extra="forbid")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..agents import AGENT_TYPES

AgentType = Literal[AGENT_TYPES]  # type: ignore[valid-type]
RELEASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    type: AgentType
    config: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=2000)


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    type: str
    config: dict[str, Any]
    description: str | None
    created_at: datetime


class TaskIn(Strict):
    agent_id: uuid.UUID
    input: dict[str, Any]


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    agent_id: uuid.UUID | None
    kind: str
    status: str
    input: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    worker_id: str | None
    completed_by_release: str | None
    duration_ms: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GoldenIn(Strict):
    release: str = Field(pattern=RELEASE_PATTERN)
    timeout_seconds: float = Field(default=10, gt=0, le=120)
