"""Unicode bidi controls (embeddings U+202A/B, pop U+202C, overrides U+202D/E, isolates
U+2066-2069) in a name from the data: written as they are, a browser or SVG viewer drew
the rest of the cell, plot label or legend reversed (`job-\u202eevil` read `job-live`;
"Trojan Source", CVE-2021-42574). `str.translate(BIDI)` shows each as its code point
(`\\u202e`); right-to-left text itself (Arabic, Hebrew) and the marks LRM / RLM / ALM,
which reorder nothing past their neighbours, are left as they are. Used by the HTML
(dashboards.html) and the SVG stills (dashboards.svg)."""

from __future__ import annotations

BIDI = {c: f"\\u{c:04x}" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
