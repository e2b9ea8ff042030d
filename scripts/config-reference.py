#!/usr/bin/env python3
"""Regenerate the reference part of docs/configuration.md from the commented defaults the
binary embeds (crates/netpulse-engine/src/default-config.toml): the text between the two
markers is replaced by that file, verbatim. A unit test in crates/netpulse-engine/src/config.rs
fails when the page and the defaults differ, so run this after changing the defaults."""
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
defaults = (root / "crates/netpulse-engine/src/default-config.toml").read_text()
page_path = root / "docs/configuration.md"
page = page_path.read_text()
begin, end = "<!-- defaults:begin -->\n", "<!-- defaults:end -->"
head, rest = page.split(begin, 1)
_, tail = rest.split(end, 1)
page_path.write_text(f"{head}{begin}```toml\n{defaults}```\n{end}{tail}")
