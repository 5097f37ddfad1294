"""Calls as people work with them outside the live call flow: the call log an agent or a
supervisor reads and closes at wrap-up (`log`), and what call control needs from the
database (`actions`: the audit entry of an action on a live call, the queue a call is
transferred to). Functions take typed queries and changes and return ORM rows; a rule that
refuses raises a domain error from `errors`, which `pbx/http/calls_api.py` maps to a status
code in one place."""
