"""Readers that turn public datasets, in their official layouts, into :class:`lensnb.Example` lists."""

from __future__ import annotations
