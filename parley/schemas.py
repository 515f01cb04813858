"""JSON Schemas written by users, checked and applied without reaching the network or the disk,
and without letting one schema pin a CPU.

- `$ref` is local only ("#/$defs/city", "#anchor"), resolved inside the document; nothing is
  ever retrieved, whatever a stored schema says. `$id`, `$dynamicRef` and `$recursiveRef`,
  which move the base URI or resolve outside the document, are refused; `$schema` names one
  of the known drafts.
- Regular expressions (`pattern`, the keys of `patternProperties`, `format: regex` in the
  schema itself) are compiled and run by RE2, in time linear in the text. A pattern RE2
  cannot run (a lookaround, a backreference) is refused.
- A schema of more than MAX_SCHEMA_OBJECTS objects, or whose references expand to more than
  MAX_EXPANDED_SUBSCHEMAS or loop, is refused: a few lines of `allOf` over `$ref` could
  otherwise ask for billions of checks.

`schema_check(schema)` raises SchemaRefused naming the first problem; `safe_validator(schema)`
checks, then returns a jsonschema validator built to these rules."""

import functools
from collections.abc import Iterator
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

# Checking a schema against its metaschema takes about a millisecond an object.
MAX_SCHEMA_OBJECTS = 1_000
MAX_EXPANDED_SUBSCHEMAS = 10_000
# The drafts jsonschema knows, each with and without its trailing "#".
KNOWN_DIALECTS = frozenset(
    uri + end
    for uri in (
        "http://json-schema.org/draft-03/schema",
        "http://json-schema.org/draft-04/schema",
        "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    )
    for end in ("", "#")
)
LOCAL_ONLY = "only local references (#/...) are allowed; got {ref!r}"
RE2_ONLY = (
    "{pattern!r} is not a pattern Parley can run ({why}); patterns run with RE2, which has "
    "no lookarounds or backreferences"
)
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the person, not to stderr


class SchemaRefused(ValueError):
    """A schema Parley will not apply. `where` is the dotted path to the problem ("" for the
    whole schema), `reason` what is wrong there."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


# Regular expressions: RE2 only.


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def _regex_problem(pattern: str) -> str | None:
    try:
        _regex(pattern)
    except re2.error as exc:
        why = exc.args[0] if exc.args else "not a regular expression"
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        return RE2_ONLY.format(pattern=pattern, why=why)
    return None


def _compiles(value: Any) -> bool:
    return not isinstance(value, str) or bool(_regex(value))


def _matches(pattern: str, text: str) -> bool:
    return _regex(pattern).search(text) is not None


# jsonschema's keywords that run a regular expression, the same but with RE2 (and the same
# error messages); unevaluatedProperties with patternProperties is refused by schema_check.


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    return [
        key
        for key in instance
        if key not in properties and not any(_matches(p, key) for p in patterns)
    ]


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            listed = ", ".join(repr(extra) for extra in sorted(extras, key=str))
            yield ValidationError(
                f"Additional properties are not allowed ({listed} {verb} unexpected)"
            )


RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


@functools.cache
def _safe_class(base: type[Validator]) -> type[Validator]:
    keywords = {k: v for k, v in RE2_KEYWORDS.items() if k in base.VALIDATORS}
    return extend(base, keywords)


def _refuse_retrieval(uri: str) -> Resource[Any]:
    """Every reference a schema cannot resolve inside itself ends here, unfetched."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class


NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


# The checks, each raising SchemaRefused.


def _nodes(
    value: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every object in the document with its path, data (enum, default…) included: a local
    $ref may point anywhere, and whatever it points at is then applied as a schema."""
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            yield from _nodes(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _nodes(child, (*path, str(index)))


def _where(path: tuple[str, ...], key: str) -> str:
    return ".".join((*path, key))


def _check_keywords(path: tuple[str, ...], node: dict[str, Any]) -> None:
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        raise SchemaRefused(_where(path, "$ref"), LOCAL_ONLY.format(ref=ref))
    for key in ("$dynamicRef", "$recursiveRef"):
        if key in node:
            raise SchemaRefused(_where(path, key), "is not supported; use $ref to #/$defs/...")
    if isinstance(node.get("$id"), str) and not node["$id"].startswith("#"):
        raise SchemaRefused(
            _where(path, "$id"),
            f"changes the base URI ({node['$id']!r}), which is not allowed: a schema here is "
            "one document, its parts named in $defs and referenced as #/$defs/...",
        )
    dialect = node.get("$schema")
    if isinstance(dialect, str) and dialect not in KNOWN_DIALECTS:
        raise SchemaRefused(
            _where(path, "$schema"), f"{dialect!r} is not one of the JSON Schema drafts"
        )
    pattern = node.get("pattern")
    if isinstance(pattern, str) and (problem := _regex_problem(pattern)):
        raise SchemaRefused(_where(path, "pattern"), problem)
    patterns = node.get("patternProperties")
    for key in patterns if isinstance(patterns, dict) else ():
        if problem := _regex_problem(key):
            raise SchemaRefused(_where(path, "patternProperties"), problem)


def _metaschema_checked(schema: Any, cls: type[Validator]) -> None:
    """The schema against its draft's metaschema, `format: regex` checked with RE2."""
    checker = FormatChecker(())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=re2.error)(_compiles)
    meta = validator_for(cls.META_SCHEMA, default=cls)
    error = best_match(meta(cls.META_SCHEMA, format_checker=checker).iter_errors(schema))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path)
    raise SchemaRefused(
        "", f"is not a valid JSON Schema: {error.message}" + (f" at {where}" if where else "")
    )


def _resource(schema: Any) -> Resource[Any]:
    return Resource.from_contents(schema, default_specification=DRAFT202012)


def _check_ids(schema: Any) -> None:
    """Ids the draft itself knows of (draft 4's plain `id` too): none may move the base URI."""
    found = [uri for uri in NO_RETRIEVAL.with_resource("", _resource(schema)).crawl() if uri]
    if found:
        raise SchemaRefused(
            "", f"sets an id ({found[0]!r}), which is not allowed: reference parts with #/$defs/..."
        )


class _Expansion:
    """Counts the objects that applying a schema may visit, each local $ref counted as its
    target. Memoized, so counting stays linear in the document even when the count is not."""

    def __init__(self, schema: Any, cls: type[Validator]) -> None:
        self.resolver = NO_RETRIEVAL.resolver_with_root(_resource(schema))
        self.cls = cls
        self.counted: dict[int, int] = {}
        self.open: set[int] = set()

    def _target(self, ref: str, path: tuple[str, ...]) -> Any:
        """What a $ref points at, which must be a schema: it may be anywhere in the document."""
        where = ".".join(path)
        try:
            target = self.resolver.lookup(ref).contents
        except Unresolvable:
            raise SchemaRefused(where, f"{ref!r} points nowhere in the schema") from None
        if not isinstance(target, dict | bool):
            raise SchemaRefused(where, f"{ref!r} points at a {type(target).__name__}, not a schema")
        if id(target) not in self.counted:  # each target checked once, however often named
            try:
                _metaschema_checked(target, self.cls)
            except SchemaRefused as exc:
                raise SchemaRefused(where, f"{ref!r} points at what {exc.reason}") from None
        return target

    def size(self, node: Any, path: tuple[str, ...] = ()) -> int:
        if not isinstance(node, dict | list):
            return 0
        if id(node) in self.counted:
            return self.counted[id(node)]
        if id(node) in self.open:
            raise SchemaRefused(
                ".".join(path),
                "refers back to a schema that contains it: recursion is not supported",
            )
        self.open.add(id(node))
        children = node.items() if isinstance(node, dict) else enumerate(node)
        total = sum(self.size(child, (*path, str(name))) for name, child in children)
        if isinstance(node, dict):
            total += 1
            if isinstance(ref := node.get("$ref"), str):
                where = (*path, "$ref")
                total += self.size(self._target(ref, where), where)
        self.open.discard(id(node))
        if total > MAX_EXPANDED_SUBSCHEMAS:
            raise SchemaRefused(
                ".".join(path),
                f"expands through its references to more than {MAX_EXPANDED_SUBSCHEMAS} subschemas",
            )
        self.counted[id(node)] = total
        return total


def _check_unevaluated(schema: Any) -> None:
    """jsonschema's unevaluatedProperties runs patternProperties with Python's re itself."""
    nodes = list(_nodes(schema))
    uses = {key for _, node in nodes for key in node}
    if "unevaluatedProperties" in uses and "patternProperties" in uses:
        path = next(p for p, node in nodes if "unevaluatedProperties" in node)
        raise SchemaRefused(
            _where(path, "unevaluatedProperties"),
            "cannot be combined with patternProperties here; use additionalProperties",
        )


def schema_check(schema: Any) -> None:
    """Raise SchemaRefused, naming where, unless `schema` is a valid JSON Schema that is safe
    to apply: local references only, RE2 patterns, a bounded size once expanded."""
    if not isinstance(schema, dict | bool):
        raise SchemaRefused("", "must be a JSON object")
    try:
        nodes = list(_nodes(schema))
        if len(nodes) > MAX_SCHEMA_OBJECTS:
            raise SchemaRefused(
                "", f"has more than {MAX_SCHEMA_OBJECTS} objects, too many to check"
            )
        for path, node in nodes:
            _check_keywords(path, node)
        cls = validator_for(schema, default=Draft202012Validator)
        _metaschema_checked(schema, cls)
        _check_ids(schema)
        _Expansion(schema, cls).size(schema)
        _check_unevaluated(schema)
    except RecursionError:
        raise SchemaRefused("", "is nested too deeply") from None


def safe_validator(schema: Any) -> Validator:
    """A validator for `schema` that resolves references only inside it and runs patterns
    with RE2. Raises SchemaRefused for a schema schema_check refuses (one stored before these
    rules, say)."""
    schema_check(schema)
    cls = _safe_class(validator_for(schema, default=Draft202012Validator))
    return cls(schema, registry=NO_RETRIEVAL)
