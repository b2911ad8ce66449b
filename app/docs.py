"""The README's command and settings reference, generated from the CLI and the settings classes so
it cannot drift: ``python -m app.docs`` rewrites the marked blocks of README.md, ``--check`` only
compares (the tests run it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from pydantic_settings import BaseSettings

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = ("commands", "settings")


def commands(group: Any = None, prefix: str = "crucible") -> list[tuple[str, str]]:
    """(``crucible requester post SPEC_FILE [--opts]``, first line of its help) for every visible
    command. Typer's command objects are walked by duck type (it vendors its own click)."""
    if group is None:
        from app.cli import app

        group = typer.main.get_command(app)
    out: list[tuple[str, str]] = []
    ctx = typer.Context(group, info_name=prefix)
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        path = f"{prefix} {name}"
        if hasattr(cmd, "list_commands"):
            out += commands(cmd, path)
            continue
        args = " ".join(str(p.name).upper() for p in cmd.params if p.param_type_name == "argument")
        opts = sorted(p.opts[0] for p in cmd.params if p.param_type_name == "option" and not p.hidden)
        usage = f"{path} {args}".strip() + (f" [{' '.join(o for o in opts if o != '--help')}]" if opts else "")
        out.append((usage, " ".join((cmd.help or "").strip().split("\n\n")[0].split())))
    return out


def settings_classes() -> list[type[BaseSettings]]:
    from crucible.settings import RoleSettings
    from oracle.settings import Settings as OracleSettings

    return [RoleSettings, OracleSettings]


def variables() -> list[tuple[str, str, str]]:
    """(``CRUCIBLE_…`` variable, default, description) for every setting read from the environment."""
    out: dict[str, tuple[str, str, str]] = {}
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            env = field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name}".upper()
            if not env.startswith("CRUCIBLE_"):
                continue
            default = "" if field.default is None else str(field.default)
            out[env] = (env, default, field.description or _comment(cls, name))
    return sorted(out.values())


def _comment(cls: type, name: str) -> str:
    """The ``#:`` comment above a field in its class's source (the settings' documentation)."""
    import inspect

    for klass in cls.__mro__:
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        for i, line in enumerate(lines):
            if line.strip().startswith(f"{name}:"):
                doc: list[str] = []
                j = i - 1
                while j >= 0 and lines[j].strip().startswith("#:"):
                    doc.insert(0, lines[j].strip()[2:].strip())
                    j -= 1
                inline = line.split("#", 1)[1].strip() if "#" in line and not doc else ""
                return " ".join(doc) or inline
    return ""


def render(block: str) -> str:
    if block == "commands":
        body = "\n".join(f"| `{usage}` | {help_} |" for usage, help_ in commands())
        return "| command | what it does |\n| --- | --- |\n" + body
    body = "\n".join(f"| `{env}` | {f'`{d}`' if d else '-'} | {doc} |" for env, d, doc in variables())
    return "| variable | default | what it sets |\n| --- | --- | --- |\n" + body


def rewrite(text: str) -> str:
    for block in BLOCKS:
        start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        if not rest:
            raise SystemExit(f"README.md lacks the {start} marker")
        text = f"{head}{start}\n{render(block)}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = rewrite(text)
    if "--check" in argv:
        if new != text:
            print("README.md's command/settings reference is out of date: run `python -m app.docs`")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
