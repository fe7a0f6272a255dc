"""Docs stay true to the code: every setting is documented."""

from pathlib import Path

from pydantic import BaseModel

from backend.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented_in_configuration_md() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [v for v in _variables(Settings, "OPSAPI_") if f"`{v}`" not in text]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"
