"""A report answered as CSV when the client asks for it (`?format=csv` wins over the
`Accept` header), as a file download."""

from __future__ import annotations

from aiohttp import web

from pbx.http.api import ApiCall

CSV_TYPE = "text/csv"


def wants_csv(call: ApiCall) -> bool:
    wanted = call.query.get("format")
    if wanted is not None:
        return wanted == "csv"
    return CSV_TYPE in call.request.headers.get("Accept", "")


def csv_response(text: str, name: str) -> web.Response:
    return web.Response(
        body=text.encode("utf-8"), content_type=CSV_TYPE, charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )  # fmt: skip
