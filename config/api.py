"""The JSON API under /v1: one NinjaAPI, one error shape for every failure.

Every error is {"error": "<for a person>", "code": "<for a program>", "details": {...}}."""

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from agents.api import router as agents_router
from agora.api import router as agora_router
from analysis.api import router as analysis_router
from analytics.api import router as analytics_router
from completions import views as completions_views
from completions.api import router as completions_router
from evals.api import router as evals_router
from iwy.api import router as iwy_router
from parley.errors import ParleyError, invalid_input_from_errors
from parley.jsonbody import request_json
from sessions import streaming
from sessions.api import agent_human_router
from sessions.api import router as sessions_router
from tools.api import router as tools_router
from voice.api import router as voice_router

from .responses import error_response

logger = logging.getLogger(__name__)


class JSONBodyParser(Parser):
    """Every body the API reads, through the one strict reader (parley.jsonbody)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return request_json(request)


ERRORS = {
    400: "The input is not valid: the message names the field and the problem.",
    401: "No API key, or not a valid one.",
    403: "The key may not do this.",
    404: "No such thing, or not this team's.",
    409: "It cannot be done in the state it is in.",
    413: "The request body is too large.",
    415: "The request body is not JSON.",
    429: "Too many requests; try again later.",
}
_BODY_ONLY = (413, 415)


def _error_schema(*, agent_human: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "details": {"type": "object"},
    }
    if agent_human:
        fields = {"success": {"type": "boolean", "const": False}} | fields
    return {"type": "object", "properties": fields, "required": list(fields)}


# iwy's singular paths (/v1/agent/{id}) serve the same views as Parley's plural ones; their
# operation ids end so. The document lists each operation once, its other path in `x-aliases`.
ALIAS_SUFFIX = "_iwy"
# What the docs page's Authorize offers: a team's key in either header. A session's token is a
# Bearer token too; the dashboard's sign-in cookie also works, but is no client's way in.
SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A team's API key (`pk_live_…`), as Agent Human's clients send it.",
    },
    "BearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "A team's API key (`pk_live_…`, the key alone here) sent as "
        "`Authorization: Bearer`, as iwy's clients send it; where an operation says so, a "
        "session's token (`st_…`, from its start) or an agent's LLM key (`ak_…`).",
    },
}
SHOWN_AS = {
    "ApiKeyAuth": "ApiKeyAuth",
    "BearerAuth": "BearerAuth",
    "SessionTokenAuth": "BearerAuth",
}


def _fold_aliases(paths: dict[str, Any]) -> None:
    """Each alias operation into the one it repeats: its path in `x-aliases` and a line of
    the description, so the docs page reads each operation once. Both paths keep working."""
    canonical = {
        (method, op["operationId"]): op for item in paths.values() for method, op in item.items()
    }
    for path, item in list(paths.items()):
        for method, op in list(item.items()):
            name = op.get("operationId", "")
            target = canonical.get((method, name.removesuffix(ALIAS_SUFFIX)))
            if not name.endswith(ALIAS_SUFFIX) or target is None:
                continue
            target.setdefault("x-aliases", []).append(path)
            also = f"Also at `{path}`, iwy's path."
            target["description"] = f"{target.get('description', '')}\n\n{also}".strip()
            del item[method]
        if not item:
            del paths[path]


def _shown_security(schema: OpenAPISchema) -> None:
    """Only SCHEMES in the document; each operation's alternatives named by them, once."""
    if "securitySchemes" in schema["components"]:
        schema["components"]["securitySchemes"] = dict(SCHEMES)
    for path_item in schema["paths"].values():
        for operation in path_item.values():
            if "security" not in operation:
                continue
            sent = [name for entry in operation["security"] for name in entry]
            shown = dict.fromkeys(SHOWN_AS[name] for name in sent if name in SHOWN_AS)
            operation["security"] = [{name: []} for name in shown]
            if "SessionTokenAuth" in sent:
                line = "Takes the session's token (`Authorization: Bearer st_…`) or the team's key."
                operation["description"] = f"{operation.get('description', '')}\n\n{line}".strip()


class DocumentedAPI(NinjaAPI):
    """A NinjaAPI whose OpenAPI document also holds the async views routed beside it, and the
    error responses every operation may answer with, in the API's error shape; iwy's aliases
    folded into the operations they repeat, and the credentials a client sends."""

    def __init__(
        self, *args: Any, extra_paths: dict[str, Any], agent_human: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.extra_paths = extra_paths
        self.agent_human = agent_human

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        schema["paths"].update(self.extra_paths)
        _fold_aliases(schema["paths"])
        _shown_security(schema)
        error = {"$ref": "#/components/schemas/Error"}
        schema["components"].setdefault("schemas", {})["Error"] = _error_schema(
            agent_human=self.agent_human
        )
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                for status, description in ERRORS.items():
                    if status in _BODY_ONLY and "requestBody" not in operation:
                        continue
                    operation["responses"].setdefault(
                        str(status),
                        {"description": description, "content": {JSON: {"schema": error}}},
                    )
        return schema


JSON = "application/json"

api = DocumentedAPI(
    title="Parley API",
    version="1",
    description="Agents, tools and single-use agents. Authenticate with `x-api-key` or "
    "`Authorization: Bearer`. Errors are `{error, code, details}`.",
    parser=JSONBodyParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    extra_paths=completions_views.OPENAPI_PATH,
)
api.add_router("/", agents_router)
api.add_router("/", tools_router)
api.add_router("/", sessions_router)
api.add_router("/", voice_router)
api.add_router("/", completions_router)
api.add_router("/", agora_router)
api.add_router("/", iwy_router)
api.add_router("/", analytics_router)
api.add_router("/", analysis_router)
api.add_router("/", evals_router)

# Agent Human's session API, under /api/v1. Its clients read {"success": false, "error"} on a
# failure, so its errors carry that besides Parley's code and details.
agent_human_api = DocumentedAPI(
    title="Parley API: Agent Human sessions",
    version="1",
    description="Agent Human's session API: start with `x-api-key`, send messages with the key "
    "or the session token, end. Errors are `{success: false, error, code, details}`.",
    parser=JSONBodyParser(),
    urls_namespace="agenthuman",
    docs_url="/docs",
    openapi_url="/openapi.json",
    extra_paths=streaming.OPENAPI_PATH,
    agent_human=True,
)
agent_human_api.add_router("/", agent_human_router)


def _agent_human_error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> HttpResponse:
    body = {"success": False, "error": message, "code": code, "details": details or {}}
    return JsonResponse(body, status=status)


def _install_error_handlers(api: NinjaAPI, respond: Callable[..., HttpResponse]) -> None:
    """The same refusals, said in each API's shape."""

    def parley_error(request: HttpRequest, exc: ParleyError) -> HttpResponse:
        response = respond(exc.status, exc.code, exc.message, exc.details)
        if retry_after := getattr(exc, "retry_after", None):  # a 429 says when to come back
            response["Retry-After"] = str(retry_after)
        return response

    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # Ninja puts where the value came from first ("body", …); people want the field.
        errors = [e | {"loc": _field_loc(e.get("loc", ()))} for e in exc.errors]
        err = invalid_input_from_errors(errors)
        return respond(400, err.code, err.message, err.details)

    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return respond(401, "unauthorized", UNAUTHENTICATED)

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, ParleyError):  # ninja wraps what the body parser raised
            return parley_error(request, exc.__cause__)
        return respond(exc.status_code, "http_error", exc.message)

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(404, "not_found", "Not found.")

    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return respond(403, "forbidden", str(exc) or "You may not do this.")

    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return respond(500, "internal_error", "Something went wrong on our side; it was logged.")

    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (ParleyError, parley_error),
        (ValidationError, validation_error),
        (AuthenticationError, unauthenticated),
        (HttpError, http_error),
        (Http404, not_found),
        (PermissionDenied, forbidden),
        (Exception, unexpected),
    ]
    for kind, handler in handlers:
        api.add_exception_handler(kind, handler)


UNAUTHENTICATED = "Send your API key as 'x-api-key: <key>' or 'Authorization: Bearer <key>'."


def _field_loc(loc: tuple | list) -> tuple:
    loc = tuple(loc)
    if loc[:1] == ("body",):
        return loc[2:] or ("body",)
    if loc[:1] in (("query",), ("path",)):
        return loc[2:] if len(loc) > 2 and loc[1] in ("filters", "ninja_pagination") else loc[1:]
    return loc


_install_error_handlers(api, error_response)
_install_error_handlers(agent_human_api, _agent_human_error)
