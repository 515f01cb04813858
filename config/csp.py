"""The Content-Security-Policy of a view that differs from the default one in settings."""

from collections.abc import Callable
from typing import Any, TypeVar, cast

from csp.decorators import csp_replace
from django.http import HttpResponseBase

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def csp_replaced(directives: dict[str, Any]) -> Callable[[View], View]:
    """The view's policy has these directives in place of the default's (django-csp's
    csp_replace, typed for views that take URL arguments)."""
    return cast(Callable[[View], View], csp_replace(directives))
