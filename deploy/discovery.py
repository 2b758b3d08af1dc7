"""Validate requests against Google's discovery documents.

The documents ship inside google-api-python-client
(googleapiclient/discovery_cache/documents/<api>.<version>.json). A request is
resolved to its method by HTTP method + URL path template, then its path
parameters, query parameters and body are checked against the schema:
unknown fields, wrong types, bad formats (int64 as string, durations) and
enum values outside the list are all reported.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .api import ApiRequest


class ValidationError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    doc: dict  # the method's discovery entry
    path_values: dict[str, str]  # declared path parameter -> decoded value


def documents_dir() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@lru_cache(maxsize=32)
def load(api: str, version: str) -> dict:
    return json.loads((documents_dir() / f"{api}.{version}.json").read_text())


def _walk_methods(node: dict) -> Iterator[dict]:
    yield from node.get("methods", {}).values()
    for child in node.get("resources", {}).values():
        yield from _walk_methods(child)


@lru_cache(maxsize=4096)
def _template_regex(template: str) -> re.Pattern:
    """URI template -> regex; {+x} spans slashes, {x} is one segment (no ':' verbs)."""
    out, pos = "", 0
    for match in re.finditer(r"\{(\+?)([^}]+)\}", template):
        out += re.escape(template[pos : match.start()])
        group = re.sub(r"\W", "_", match.group(2))
        out += f"(?P<{group}>.+)" if match.group(1) else f"(?P<{group}>[^/:]+)"
        pos = match.end()
    return re.compile(out + re.escape(template[pos:]))


def _literal_len(template: str) -> int:
    return len(re.sub(r"\{[^}]+\}", "", template))


def resolve(api: str, version: str, http_method: str, path: str) -> Method:
    """Find the discovery method for `METHOD path` (path relative to the API base)."""
    doc = load(api, version)
    best = None
    for method in _walk_methods(doc):
        if method["httpMethod"] != http_method:
            continue
        template = method.get("flatPath") or method["path"]
        if _template_regex(template).fullmatch(path):
            score = _literal_len(template)
            if best is None or score > best[0]:
                best = (score, method)
    if best is None:
        raise ValidationError([f"{api}.{version} has no method for {http_method} {path}"])
    method = best[1]
    match = _template_regex(method["path"]).fullmatch(path)
    values = {}
    if match:
        names = re.findall(r"\{\+?([^}]+)\}", method["path"])
        values = {n: unquote(match.group(re.sub(r"\W", "_", n))) for n in names}
    return Method(method["id"], http_method, method, values)


def validate_request(req: ApiRequest) -> list[str]:
    """Problems with a request; [] when it matches the discovery document."""
    try:
        method = resolve(req.api, req.version, req.method, req.path)
    except ValidationError as err:
        return err.problems
    doc = load(req.api, req.version)
    problems = _check_path(method)
    problems += _check_query(method, doc, req.params)
    problems += _check_body(method, doc, req.body)
    return problems


def check_request(req: ApiRequest) -> str:
    """Method id of a valid request; raises ValidationError otherwise."""
    problems = validate_request(req)
    if problems:
        raise ValidationError(problems)
    return resolve(req.api, req.version, req.method, req.path).id


def validate_response(req: ApiRequest, body: object) -> list[str]:
    """Problems with a response body (output-only fields allowed)."""
    method = resolve(req.api, req.version, req.method, req.path)
    ref = (method.doc.get("response") or {}).get("$ref")
    if not ref:
        return [] if body in (None, {}, "") else [f"{method.id} returns no body"]
    problems: list[str] = []
    _check_value(body, {"$ref": ref}, ref, load(req.api, req.version), problems, True)
    return problems


def _check_path(method: Method) -> list[str]:
    out = []
    for name, spec in method.doc.get("parameters", {}).items():
        if spec.get("location") != "path":
            continue
        value = method.path_values.get(name)
        if not value:
            out.append(f"{method.id}: path parameter '{name}' is missing")
        elif spec.get("pattern") and not re.search(spec["pattern"], value):
            out.append(f"{method.id}: '{value}' does not match {name} {spec['pattern']}")
    return out


def _check_query(method: Method, doc: dict, params: tuple) -> list[str]:
    specs = {k: v for k, v in method.doc.get("parameters", {}).items() if v.get("location") == "query"}
    specs.update(doc.get("parameters", {}))
    out, seen = [], {}
    for name, value in params:
        seen[name] = seen.get(name, 0) + 1
        spec = specs.get(name)
        if spec is None:
            out.append(f"{method.id}: unknown query parameter '{name}'")
            continue
        out += _check_scalar_param(method.id, name, str(value), spec)
        if seen[name] > 1 and not spec.get("repeated"):
            out.append(f"{method.id}: query parameter '{name}' is not repeated")
    out += [
        f"{method.id}: required query parameter '{n}' is missing"
        for n, s in specs.items()
        if s.get("required") and n not in seen
    ]
    return out


def _check_scalar_param(method_id: str, name: str, value: str, spec: dict) -> list[str]:
    kind = spec.get("type")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return [f"{method_id}: query parameter '{name}' must be an integer, got '{value}'"]
    if kind == "boolean" and value not in ("true", "false"):
        return [f"{method_id}: query parameter '{name}' must be true/false, got '{value}'"]
    if spec.get("enum") and value not in spec["enum"]:
        return [f"{method_id}: '{value}' is not one of {name} {spec['enum']}"]
    return []


def _check_body(method: Method, doc: dict, body: dict | None) -> list[str]:
    ref = (method.doc.get("request") or {}).get("$ref")
    if ref is None:
        return [] if body is None else [f"{method.id} takes no request body"]
    problems: list[str] = []
    _check_value({} if body is None else body, {"$ref": ref}, ref, doc, problems, False)
    return problems


_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}


def _check_value(value: Any, schema: dict, where: str, doc: dict, out: list, output: bool) -> None:
    if "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    if schema.get("readOnly") and not output:
        out.append(f"{where}: output-only field must not be sent")
        return
    kind = schema.get("type")
    if kind == "any":
        return
    if kind == "object" or "properties" in schema:
        _check_object(value, schema, where, doc, out, output)
    elif kind == "array":
        if not isinstance(value, list):
            out.append(f"{where}: expected an array, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check_value(item, schema.get("items", {}), f"{where}[{i}]", doc, out, output)
    elif kind == "string":
        _check_string(value, schema, where, out)
    elif kind == "integer":
        _check_integer(value, schema, where, out)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        out.append(f"{where}: expected true/false, got {value!r}")


def _check_object(value: Any, schema: dict, where: str, doc: dict, out: list, output: bool) -> None:
    if not isinstance(value, dict):
        out.append(f"{where}: expected an object, got {type(value).__name__}")
        return
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if props is not None and key in props:
            _check_value(item, props[key], f"{where}.{key}", doc, out, output)
        elif extra is not None:
            _check_value(item, extra, f"{where}[{key!r}]", doc, out, output)
        elif props is not None and not key.startswith("@"):
            out.append(f"{where}: unknown field '{key}'")


def _check_string(value: Any, schema: dict, where: str, out: list) -> None:
    if not isinstance(value, str):
        out.append(f"{where}: expected a string, got {value!r}")
        return
    fmt = schema.get("format")
    if fmt in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
        out.append(f"{where}: expected an {fmt} written as a string of digits, got {value!r}")
    elif fmt == "google-duration" and not _DURATION.fullmatch(value):
        out.append(f"{where}: expected a duration like '600s', got {value!r}")
    elif fmt == "google-datetime" and not _DATETIME.fullmatch(value):
        out.append(f"{where}: expected an RFC 3339 timestamp, got {value!r}")
    elif fmt == "byte" and not _is_base64(value):
        out.append(f"{where}: expected base64 bytes, got {value!r}")
    if schema.get("enum") and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']}")


def _check_integer(value: Any, schema: dict, where: str, out: list) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(f"{where}: expected an integer, got {value!r}")
        return
    low, high = _INT_RANGES.get(schema.get("format", ""), (None, None))
    if low is not None and not low <= value <= high:
        out.append(f"{where}: {value} is outside {schema['format']}")


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, altchars=b"-_" if "-" in value or "_" in value else None, validate=True)
        return True
    except ValueError:
        return False
