"""The platform operator's service: businesses provisioned (a business, its numbers and its
first admin in one transaction), listed, changed, disabled and enabled; the operator's API
tokens; one-time links by which a user sets a password. Commands are typed dataclasses,
refusals are domain errors (`errors`); the CLI (`pbx.platform.cli`) and the HTTP API
(`pbx/http/platform_api.py`) only parse, call and map."""
