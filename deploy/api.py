"""ApiRequest: one Google REST call, described as data.

Plans print them, the HTTP layer sends them, tests validate them against the
discovery documents: the same object in all three places.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .config import Endpoints


@dataclass(frozen=True)
class ApiRequest:
    api: str  # discovery name, e.g. "run"
    version: str  # e.g. "v2"
    method: str  # HTTP method
    path: str  # relative to the API's base URL, already percent-encoded
    params: tuple[tuple[str, str], ...] = ()
    body: dict | None = None
    purpose: str = ""  # one line for people reading a plan
    when: str = ""  # condition under which it is sent ("" = always)
    context: dict = field(default_factory=dict, compare=False)  # for error sentences

    def url(self, endpoints: Endpoints) -> str:
        url = endpoints.base(self.api) + self.path
        return f"{url}?{urlencode(self.params)}" if self.params else url

    def to_dict(self, endpoints: Endpoints) -> dict:
        out = {
            "method": self.method,
            "url": self.url(endpoints),
            "body": self.body,
            "api": f"{self.api}.{self.version}",
            "purpose": self.purpose,
        }
        if self.when:
            out["when"] = self.when
        return out

    def describe(self, endpoints: Endpoints) -> str:
        body = f"\n{json.dumps(self.body, indent=2)}" if self.body is not None else ""
        return f"{self.method} {self.url(endpoints)}{body}"
