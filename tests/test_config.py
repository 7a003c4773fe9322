from __future__ import annotations

from pathlib import Path

import pytest

from bostonia.config import Settings, load_settings, render_default_toml
from bostonia.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bostonia.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.server.port == 8420
    assert settings.llm.default_model == "SmolLM2-135M-Instruct.Q4_1"
    assert settings.database_path == settings.data_path / "bostonia.db"


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n[llm]\nmax_tokens = 64\n")
    settings = load_settings(path, environ={})
    assert (settings.server.port, settings.llm.max_tokens) == (9001, 64)


def test_unknown_key_in_file_is_rejected_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 9001\n")
    with pytest.raises(ConfigError, match="prot") as info:
        load_settings(path, environ={})
    assert str(path) in info.value.message


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="serverr"):
        load_settings(write(tmp_path, "[serverr]\nport = 1\n"), environ={})


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(write(tmp_path, '[server]\nport = "eighty"\n'), environ={})


def test_out_of_range_value_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(write(tmp_path, "[server]\nport = 70000\n"), environ={})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "[server\n"), environ={})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_env_overrides_every_section_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n")
    env = {
        "BOSTONIA_SERVER_PORT": "9100",
        "BOSTONIA_LLM_TEMPERATURE": "0.2",
        "BOSTONIA_AUTH_SECURE_COOKIES": "true",
        "BOSTONIA_DATA_DIR": str(tmp_path / "elsewhere"),
        "BOSTONIA_PLUGINS_ENABLED": '["a", "b"]',
    }
    settings = load_settings(path, environ=env)
    assert settings.server.port == 9100
    assert settings.llm.temperature == 0.2
    assert settings.auth.secure_cookies is True
    assert settings.data_path == (tmp_path / "elsewhere").resolve()
    assert settings.plugins.enabled == ["a", "b"]


def test_unknown_env_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="prot"):
        load_settings(None, environ={"BOSTONIA_SERVER_PROT": "1"})


def test_bad_env_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(None, environ={"BOSTONIA_SERVER_PORT": "lots"})


def test_explicit_overrides_beat_env() -> None:
    settings = load_settings(None, environ={"BOSTONIA_SERVER_PORT": "9100"}, overrides={"server": {"port": 9200}})
    assert settings.server.port == 9200


def test_rendered_default_config_round_trips(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, render_default_toml()), environ={})
    assert settings == Settings()


def test_repository_config_is_valid() -> None:
    repo_config = Path(__file__).resolve().parent.parent / "bostonia.toml"
    assert load_settings(repo_config, environ={}) == Settings()
