"""Agents (the routing roster): presence, capacity, languages, teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from helpline.console import assigning
from helpline.console.auth import current_user, managers, staff
from helpline.console.roles import Principal
from helpline.console.schemas import AgentOut, AgentPatch, PresenceIn
from helpline.console.services import Services, services
from helpline.routing.assignment import AgentLoad

router = APIRouter(tags=["agents"])

Svc = Annotated[Services, Depends(services)]


def _out(a: AgentLoad) -> AgentOut:
    return AgentOut(
        id=a.agent.id,
        name=a.agent.name,
        teams=list(a.agent.teams),
        languages=list(a.agent.languages),
        capacity=a.agent.capacity,
        presence=a.agent.presence,
        load=a.load,
    )


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(svc: Svc, _: Annotated[Principal, Depends(staff)]) -> list[AgentOut]:
    return [_out(a) for a in (await assigning.roster(svc)).values()]


@router.put("/agents/{agent_id}/presence", response_model=AgentOut)
async def set_presence(
    agent_id: str, body: PresenceIn, svc: Svc, who: Annotated[Principal, Depends(staff)]
) -> AgentOut:
    """Online, away or offline. Coming online takes waiting conversations of the agent's teams
    at once. Agents set their own; supervisors and admins anyone's."""
    if agent_id != who.username and not who.manages:
        raise HTTPException(403, "you may only change your own presence")
    await assigning.set_presence(svc, agent_id, body.presence)
    return _out((await assigning.roster(svc))[agent_id])


@router.patch("/agents/{agent_id}", response_model=AgentOut)
async def update_agent(
    agent_id: str, body: AgentPatch, svc: Svc, _: Annotated[Principal, Depends(managers)]
) -> AgentOut:
    return _out(await assigning.update_agent(svc, agent_id, body.capacity, body.languages, body.teams))


@router.get("/teams", response_model=list[str])
async def list_teams(svc: Svc, _: Annotated[Principal, Depends(current_user)]) -> list[str]:
    return list(svc.teams)
