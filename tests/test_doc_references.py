"""What the docs name exists: every `fraud-app COMMAND --flag` they show (in code blocks and
inline code, also the short `train --run NAME` form) is a command of the CLI with flags it
has; every repository path they write in backticks is there; every relative Markdown link
and anchor resolves; every config YAML block validates and every `section.key` the README
and docs/DEPLOY.md write is a key of the config. Session 52 found `score` / `evaluate --model` in the README
(evaluate takes its model as the argument MODEL; `--model` is an error). Pure Python: the
parser and the config models, no Spark."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import yaml

from pipelines.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/ARCHITECTURE.md", "docs/DEPLOY.md", "docs/TESTING.md", "docs/CONFIG.md"]
NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))


def _text(name: str, markdown_only: bool = False) -> str:
    text = (ROOT / name).read_text(encoding="utf-8")
    if name.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if not markdown_only or c["cell_type"] == "markdown"
        )
    return text


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _spans(text: str) -> list[tuple[int, str]]:
    """(offset, text) of every inline code span and every line of a fenced block."""
    spans = []
    blocks = list(re.finditer(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M))
    for block in blocks:
        body = block.group(1).replace("\\\n", " ")  # a shell line continued
        offset = block.start(1)
        for line in body.split("\n"):
            spans.append((offset, line))
            offset += len(line) + 1
    outside = text
    for block in reversed(blocks):
        outside = (
            outside[: block.start()] + " " * (block.end() - block.start()) + outside[block.end() :]
        )
    spans += [(m.start(1), m.group(1)) for m in re.finditer(r"`([^`\n]+)`", outside)]
    return spans


def _parsers() -> tuple[dict[str, set[str]], set[str]]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = {
        name: {o for a in sub._actions for o in a.option_strings}
        for name, sub in action.choices.items()
    }
    return commands, {o for a in parser._actions for o in a.option_strings}


GLOBAL_WITH_VALUE = r"(?:\s+(?:-c|--config|--master|--env-archive|--log-level)\s+\S+)*"
# where a command line ends inside a span
# (a pipe, a list, a redirect, a comment), or where prose around it goes on (": ", ". ")
END = re.compile(r"\s(?:\||;|&&|\|\||>>?|2>|#)\s|[:.]\s|\)$|$")


def _flags(rest: str) -> set[str]:
    rest = rest[: END.search(rest).start()]
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest))


def test_every_fraud_app_command_the_docs_show_exists_with_its_flags():
    commands, global_flags = _parsers()
    wrong, seen = [], 0
    for name in DOCS + NOTEBOOKS:
        text = _text(name)
        for pos, span in _spans(text):
            # `fraud-app [globals] COMMAND ...`, `python -m pipelines ...`, spark-submit's
            # `.../pipelines/__main__.py ...`, also a path to the script (`venv/bin/fraud-app`)
            for m in re.finditer(
                rf"(?:^|[\s\"'(])(?:\S*/)?(?:fraud-app|python -m pipelines|__main__\.py)"
                rf"({GLOBAL_WITH_VALUE})\s+([a-z][a-z-]*)(.*)",
                span,
            ):
                command, rest = m.group(2), m.group(1) + " " + m.group(3)
                starts = span[: m.start()].strip() in ("", "$", '"', "F=(", "(")
                if command not in commands:
                    if starts and re.match(r"[a-z]+-?[a-z]+$", command):
                        wrong.append(f"{name}:{_line(text, pos)}: no command {command!r}: {span}")
                    continue
                seen += 1
                for flag in sorted(_flags(rest) - commands[command] - global_flags):
                    wrong.append(f"{name}:{_line(text, pos)}: {command} has no {flag}: {span}")
            # the short form in prose: `train --run NAME`, `score --date D`
            m = re.match(r"([a-z][a-z-]*)\s+(--[a-z].*)", span)
            if m and m.group(1) in commands:
                seen += 1
                for flag in sorted(_flags(m.group(2)) - commands[m.group(1)] - global_flags):
                    wrong.append(f"{name}:{_line(text, pos)}: {m.group(1)} has no {flag}: {span}")
    assert seen > 100
    assert wrong == []


def test_the_checker_finds_a_flag_a_command_lacks():
    commands, global_flags = _parsers()
    assert "--model" in commands["score"] and "--model" not in commands["evaluate"]
    assert _flags("--start S --end E | jq .x --raw") == {"--start", "--end"}
    assert "--master" in global_flags


# the checkout's own top-level entries (not what a run or a tool writes there)
GENERATED = {".git", ".venv", "work", "mutants", "build", "dist", "spark-warehouse", "metastore_db"}
TOP = {p.name for p in ROOT.iterdir() if not p.name.endswith("_cache")} - GENERATED
# backticked paths that name something outside the repository on purpose
ELSEWHERE = {
    "dashboards/assets/": "the folder of a training run's MLflow artifacts",
}


def test_every_repository_path_the_docs_write_exists():
    missing = []
    for name in DOCS + NOTEBOOKS:
        text = _text(name, markdown_only=True)
        for m in re.finditer(r"`([^`\s]+)`", text):
            path = m.group(1).rstrip(".,;:")
            head = path.split("/")[0]
            named = "/" in path or re.search(r"\.(py|md|yaml|toml|txt|ipynb|sh)$", path)
            if head not in TOP or not named or re.search(r"[<>*{}$\[]", path):
                continue
            if path in ELSEWHERE:
                continue
            path = path.split("::")[0]  # a pytest node id
            if (ROOT / path).exists() or (ROOT / "tests" / path).exists():
                continue  # docs/TESTING.md writes test files relative to tests/
            # `pipelines/whole_lines.WholeLines`: a module and a name it defines
            module, _, attr = path.rpartition(".")
            source = ROOT / f"{module}.py"
            if source.is_file() and re.search(rf"\b{re.escape(attr)}\b", source.read_text()):
                continue
            missing.append(f"{name}:{_line(text, m.start())}: {m.group(1)}")
    assert missing == []


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (fenced blocks skipped)."""
    anchors, counts, fenced = set(), {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading and not fenced:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_every_relative_link_and_anchor_of_the_docs_resolves():
    broken, links = [], 0
    for name in [*DOCS, "docs/BENCHMARKS.md"]:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            links += 1
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{name}:{_line(text, m.start())}: {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{name}:{_line(text, m.start())}: {target}: no such heading")
    assert links >= 5
    assert broken == []


def test_the_anchor_rule_is_githubs():
    readme = _anchors(ROOT / "README.md")
    assert {"cli", "dashboards", "onnx-serving-elsewhere-importing-from-pytorch-or-keras"} <= readme
    assert "retention-fraud-app-prune" in readme


def test_every_config_yaml_block_of_the_docs_validates():
    from pydantic import ValidationError

    from fraud_app.config import AppConfig, error_lines

    problems, blocks = [], 0
    for name in DOCS:
        text = _text(name)
        for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.S | re.M):
            data = yaml.safe_load(m.group(1))
            if not isinstance(data, dict) or not set(data) <= set(AppConfig.model_fields):
                continue  # a feature spec or another file's YAML
            blocks += 1
            try:
                AppConfig.model_validate(data)
            except ValidationError as exc:
                problems.append(f"{name}:{_line(text, m.start())}: {error_lines(exc, AppConfig)}")
    assert blocks >= 2
    assert problems == []


# `section.key` spans of the README and docs/DEPLOY.md that are not config keys on purpose
NOT_KEYS = {
    "training.distributed.epoch",  # a typo, to show the error that names 'epochs'
    "training.num_workers",  # a key in the wrong section, to show that error
    "baselines.<name>.validation",  # the training report's figures
    "features.<name>.below_range",  # the scoring summary's drift counts
}


def test_every_config_key_the_readme_and_deploy_guide_write_exists():
    from fraud_app.config import AppConfig
    from fraud_app.config_reference import rows

    keys = [key for key, _, _ in rows()]
    known = set()
    for key in keys:
        parts = key.split(".")
        known |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    patterns = [re.compile(re.escape(k).replace("<name>", "[^.]+") + "$") for k in known]
    sections = set(AppConfig.model_fields)
    spark_keys = set(AppConfig.model_fields["spark"].annotation.model_fields)
    unknown = []
    for name in ("README.md", "docs/DEPLOY.md"):
        text = _text(name)
        for m in re.finditer(r"`([a-z_]+(?:\.[A-Za-z_0-9<>*]+)+)(?::[^`]*)?`", text):
            key = m.group(1)
            section, second = key.split(".")[:2]
            if section not in sections or key in NOT_KEYS or key.endswith(".*"):
                continue
            if re.search(r"\.(json|yaml|html|lock)$", key):
                continue  # a file name (`backtest.json`)
            if m.group(0).count(":") and "unknown key" in m.group(0):
                continue  # an error message quoting a wrong key
            if section == "spark" and (
                second not in spark_keys or (second == "conf" and key != "spark.conf")
            ):
                continue  # a Spark setting, or spark.conf's keys, which are Spark's own
            if key.startswith(("etl.columns.", "etl.currency.minor_units.")):
                continue  # mappings: their keys are the user's
            if "*" in key:  # `etl.bounds.*_timestamp`: at least one key of that form
                wild = re.compile(re.escape(key).replace(r"\*", "[^.]*") + "$")
                if any(wild.match(k) for k in known):
                    continue
            elif any(p.match(key) for p in patterns):
                continue
            unknown.append(f"{name}:{_line(text, m.start())}: {key}")
    assert unknown == [], "\n".join(unknown)


def test_the_unlock_help_says_where_the_audit_goes(tmp_path):
    # `--force`'s help said `recorded under paths.root/.fraud-app-unlock/`; with
    # paths.local_root set (required for a remote root) the records go under that
    from fraud_app.config import load_config
    from pipelines.unlock.clear import audit_dir

    config = load_config(
        None, {"paths.root": str(tmp_path / "root"), "paths.local_root": str(tmp_path / "local")}
    )
    assert audit_dir(config.paths.driver_root()) == tmp_path / "local" / ".fraud-app-unlock"
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    force = next(a for a in action.choices["unlock"]._actions if "--force" in a.option_strings)
    assert "paths.local_root, else paths.root" in " ".join(force.help.split())


def test_docs_architecture_names_every_top_level_module_of_each_package():
    # fraud_app/deploy, file_trust.py, root_access.py and resources/, pipelines'
    # named_reports.py and six dashboards modules had no word there (session 52)
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    unnamed = []
    for package in ("fraud_app", "pipelines", "dlcore", "dashboards"):
        for entry in sorted((ROOT / package).iterdir()):
            name = entry.name.removesuffix(".py")
            is_module = entry.suffix == ".py" or (entry / "__init__.py").is_file()
            if not is_module or name.startswith("_"):
                continue
            forms = (f"{package}/{name}", f"{package}.{name}", f"`{name}/", f"`{name}.py`")
            if not any(form in text for form in forms) and f"`{name}`" not in text:
                unnamed.append(f"{package}/{entry.name}")
    assert unnamed == [], f"modules docs/ARCHITECTURE.md does not name: {unnamed}"


def test_the_readmes_python_calls_fit_the_signatures():
    # test_readme_api checks that the README's imports exist; this, that the calls it shows
    # of the names it imports (`load_config(path, overrides)`, `run_etl(spark, config)`, ...)
    # take the arguments and keywords written
    import ast
    import importlib
    import inspect

    text = _text("README.md")
    wrong, calls = [], 0
    for block in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        tree = ast.parse(block.group(1))
        names = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "fraud_app", "dlcore", "pipelines", "dashboards",
            ):  # fmt: skip
                module = importlib.import_module(node.module)
                names |= {a.asname or a.name: getattr(module, a.name) for a in node.names}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in names or any(isinstance(a, ast.Starred) for a in node.args):
                continue
            try:
                signature = inspect.signature(names[node.func.id])
            except (TypeError, ValueError):
                continue
            calls += 1
            keywords = {k.arg: None for k in node.keywords if k.arg}
            try:
                signature.bind(*[None] * len(node.args), **keywords)
            except TypeError as exc:
                line = _line(text, block.start(1)) + node.lineno - 1
                wrong.append(f"README.md:{line}: {node.func.id}(...): {exc}")
    assert calls > 10
    assert wrong == []


def test_the_readme_sections_the_help_and_code_point_to_are_headings():
    # `fraud-app --help` ends with "environment variables read (README: "Environment
    # variables")": that table was a paragraph inside "Retention (`fraud-app prune`)"
    headings = [
        re.sub(r"^#+\s+", "", line).strip()
        for line in _text("README.md").splitlines()
        if re.match(r"#{2,4}\s", line)
    ]
    pointers = re.findall(r'README: "([^"]+)"', build_parser().format_help())
    for package in ("fraud_app", "pipelines", "dlcore", "dashboards"):
        for source in (ROOT / package).rglob("*.py"):
            pointers += re.findall(r'README: "([^"]+)"', source.read_text(encoding="utf-8"))
    assert "Environment variables" in pointers
    assert [p for p in pointers if not any(h.startswith(p) for h in headings)] == []


def test_every_config_key_the_help_names_exists():
    # each flag's help names the key it overrides (`--rows  generate.n_transactions`)
    from fraud_app.config import AppConfig
    from fraud_app.config_reference import rows

    known = set()
    for key, _, _ in rows():
        parts = key.split(".")
        known |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    spark_keys = set(AppConfig.model_fields["spark"].annotation.model_fields)
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    named, unknown = set(), []
    for sub in [parser, *action.choices.values()]:
        for item in sub._actions:
            for key in re.findall(r"\b([a-z_]+(?:\.[a-z_]+)+)\b", item.help or ""):
                section, second = key.split(".")[:2]
                if section not in AppConfig.model_fields:
                    continue
                if section == "spark" and second not in spark_keys:
                    continue  # a Spark setting
                named.add(key)
                if key not in known:
                    unknown.append(f"{sub.prog} {'/'.join(item.option_strings)}: {key}")
    assert len(named) > 25
    assert unknown == []
