"""The admin service: configuration (queues, agents, memberships, business hours, inbound
routes: one module each) read, changed and audited here, with the rules of what may be
changed, deleted or referenced, so the HTTP handlers only parse, call and map. Changes take
typed settings dataclasses and return ORM rows; a rule that refuses raises a domain error
from `errors`, which `pbx/http/admin_api.py` maps to a status code in one place."""
