"""What a page that could not be drawn says: the errors a saved value of another layout
raises in the drawing code, and the message naming the files the page reads."""

from __future__ import annotations

from dashboards.sources import RunData

# What the drawing code raises on a saved value of another type or shape than the step
# that writes it gives (a report edited by hand, or by other code): named on the page.
LAYOUT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def layout_message(exc: Exception) -> str:
    return (
        f"A saved input of this page does not follow the layout its step writes "
        f"({type(exc).__name__}: {exc}). Re-run the step that wrote it (train, score, "
        "evaluate, validate)."
    )


def read_from(stem: str, data: RunData) -> str:
    """The saved files a page reads, named after its layout error: `KeyError: 'date'`
    alone left the reader to guess which report holds the value of another layout."""
    files = [f"training-{data.run}.json"]
    if stem == "model-quality":
        files += [str(e.get("_file")) for e in data.evaluations if e.get("_file")]
        files += [f"test-scores/{data.run}"] if data.scores is not None else []
    elif stem == "scoring":
        files += [str(s.get("_file")) for s in data.scoring if s.get("_file")]
    elif stem == "data-quality":
        files += [str(v.get("_file")) for v in data.validations if v.get("_file")]
        files += ["canonical/_etl_report.json"] if data.etl else []
        files += ["features/_features.json"] if data.feature_rows is not None else []
    if stem in ("model-quality", "scoring") and data.model_meta:
        files.append(f"models/{data.run}/ensemble.json")
    return f" The page reads: {', '.join(files)}."
