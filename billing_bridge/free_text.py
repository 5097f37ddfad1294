"""Moved to `pbx.free_text` (pbx.audit screens text with it, and billing_bridge imports
pbx.audit: kept here, the two packages imported each other). Only pbx/http/schemas.py still
imports this name; delete this module once it imports pbx.free_text."""

from pbx.free_text import clean_name, clean_text, mask_card_numbers

__all__ = ["clean_name", "clean_text", "mask_card_numbers"]
