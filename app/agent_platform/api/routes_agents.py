"""The agent registry: create, list, get, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..agents import TOOLS
from ..models import Agent
from .schemas import AgentIn, AgentOut
from .security import require_api_key

router = APIRouter(prefix="/v1/agents", tags=["agents"])


def _check_config(body: AgentIn) -> None:
    tools = body.config.get("tools")
    if body.type != "toolbox" or tools is None:
        return
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise HTTPException(422, "config.tools must be a list of tool names")
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise HTTPException(
            422,
            f"config.tools: unknown tool(s) {', '.join(unknown)}; "
            f"the toolbox has {', '.join(TOOLS)}",
        )


@router.post("", status_code=201, dependencies=[Depends(require_api_key)])
def create_agent(body: AgentIn, request: Request) -> AgentOut:
    _check_config(body)
    agent = Agent(id=uuid.uuid4(), **body.model_dump())
    try:
        with request.app.state.sessions.begin() as db:
            db.add(agent)
            db.flush()
            db.refresh(agent)
            return AgentOut.model_validate(agent)
    except IntegrityError:
        raise HTTPException(409, f"an agent named {body.name!r} already exists") from None


@router.get("")
def list_agents(
    request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)
) -> list[AgentOut]:
    with request.app.state.sessions() as db:
        rows = db.scalars(
            select(Agent).order_by(Agent.created_at, Agent.id).limit(limit).offset(offset)
        )
        return [AgentOut.model_validate(a) for a in rows]


@router.get("/{agent_id}")
def get_agent(agent_id: uuid.UUID, request: Request) -> AgentOut:
    with request.app.state.sessions() as db:
        agent = db.get(Agent, agent_id)
        if agent is None:
            raise HTTPException(404, f"agent {agent_id} not found")
        return AgentOut.model_validate(agent)


@router.delete("/{agent_id}", status_code=204, dependencies=[Depends(require_api_key)])
def delete_agent(agent_id: uuid.UUID, request: Request) -> Response:
    with request.app.state.sessions.begin() as db:
        agent = db.get(Agent, agent_id)
        if agent is None:
            raise HTTPException(404, f"agent {agent_id} not found")
        db.delete(agent)
    return Response(status_code=204)
