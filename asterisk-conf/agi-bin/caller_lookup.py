#!/usr/bin/env python3
"""Ledgerline's caller lookup for dialplans that run `AGI(caller_lookup.py[,DID])`.

Install into Asterisk's agi-bin with a Python that has Ledgerline installed as its
interpreter (see the README); it sets the same LL_* variables as FastAGI's `caller-lookup`.
Everything it does is in `pbx.agi_bin.caller_lookup`.
"""

import sys

from pbx.agi_bin import caller_lookup

if __name__ == "__main__":
    sys.exit(caller_lookup())
