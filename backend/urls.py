"""Absolute URLs of named routes.

Starlette's ``request.url_for`` searches every route of the app on each call, which
costs more than the rest of a small request's rendering. Here each route's path
template is found once per app and filled in afterwards."""

from __future__ import annotations

from starlette.requests import Request


def url_for(request: Request, name: str, /, **params: object) -> str:
    """The absolute URL of route ``name`` with its path parameters, as
    ``str(request.url_for(name, **params))`` would give it."""
    templates: dict[tuple[str, tuple[str, ...]], str] = request.app.state.__dict__.setdefault(
        "_url_templates", {}
    )
    slot = (name, tuple(params))
    template = templates.get(slot)
    if template is None:
        placeholders = {param: "{" + param + "}" for param in params}
        template = str(request.app.url_path_for(name, **placeholders))
        templates[slot] = template
    path = template.format_map({param: str(value) for param, value in params.items()})
    return str(request.base_url).rstrip("/") + path
