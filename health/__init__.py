"""Health shared through Redis: every process writes a heartbeat that expires unless renewed, and
`/healthz`, the `helpline_connector_up` metric and `helpline status` read the same view of all of them.

A part of Helpline that has something to say about its health (an archive falling behind, a
queue growing) contributes a *component*: `ProcessHealth.add_component(name, check)`, where `check`
is an async callable returning a `ComponentHealth`. The check runs with every heartbeat of the
process that registered it; a component that is not `ok` makes the desk `degraded`, with its
detail as the reason.
"""
