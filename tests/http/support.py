"""An API client for the tests that checks every response against the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator

from pbx.http.api import PREFIX


class ApiClient:
    def __init__(self, base_url: str, document: dict[str, Any]) -> None:
        self.base_url = base_url
        self.document = document
        self.token: str | None = None
        self._http = aiohttp.ClientSession()
        self.checked = 0

    async def close(self) -> None:
        await self._http.close()

    async def login(self, tenant: str, username: str, password: str) -> dict[str, Any]:
        credentials = {"tenant": tenant, "username": username, "password": password}
        status, body = await self.call("POST", "/auth/login", credentials)
        assert status == 200, body
        self.token = body["token"]
        return body

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, **query: Any
    ) -> tuple[int, Any]:
        headers = {}
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        async with self._http.request(
            method, self.base_url + PREFIX + path, json=body, headers=headers,
            params={k: str(v) for k, v in query.items()},
        ) as response:  # fmt: skip
            data = (
                await response.json()
                if response.content_length != 0 and response.status != 204
                else None
            )
            self.check(method, path, response.status, data)
            return response.status, data

    async def send(
        self, method: str, path: str, data: bytes | None = None, **query: Any
    ) -> tuple[int, Any]:
        """Like `call`, with the body sent as the bytes given (not JSON-encoded here)."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self._http.request(
            method, self.base_url + PREFIX + path, data=data, headers=headers,
            params={k: str(v) for k, v in query.items()},
        ) as response:  # fmt: skip
            body = (
                await response.json()
                if response.content_length != 0 and response.status != 204
                else None
            )
            self.check(method, path, response.status, body)
            return response.status, body

    def check(self, method: str, path: str, status: int, data: Any) -> None:
        """The response matches what the document says this operation returns."""
        operation = self._operation(method, path)
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {path}: {status} is not documented"
        content = responses[str(status)].get("content")
        if content is None:
            assert data is None, f"{method} {path}: {status} should have no body"
            return
        schema = dict(content["application/json"]["schema"])
        schema["components"] = self.document["components"]
        Draft202012Validator(schema).validate(data)
        self.checked += 1

    def _operation(self, method: str, path: str) -> dict[str, Any]:
        bare = path.split("?")[0]
        for template, operations in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{\w+\}", r"[^/]+", template.removeprefix(PREFIX)) + "$"
            if re.match(pattern, bare) and method.lower() in operations:
                return operations[method.lower()]
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")
