import pytest

from bot.config import ConfigError, load_settings, require_token


def test_env_prefix_and_defaults(monkeypatch):
    monkeypatch.setenv("STANCEBOT_LOW_CONFIDENCE", "0.6")
    monkeypatch.setenv("STANCEBOT_GUILD_IDS", "[1, 2]")
    s = load_settings()
    assert s.low_confidence == 0.6 and s.guild_ids == [1, 2]
    assert s.model == "bundled" and s.token is None


def test_dotenv_is_read(tmp_path):
    (tmp_path / ".env").write_text("STANCEBOT_DATABASE=from-dotenv.db\nSTANCEBOT_LOG_LEVEL=debug\n")
    s = load_settings()
    assert str(s.database) == "from-dotenv.db" and s.log_level == "DEBUG"


def test_toml_file_is_read_and_env_wins(tmp_path, monkeypatch):
    (tmp_path / "stancebot.toml").write_text('batch_size = 8\nmodel = "some/model"\n')
    monkeypatch.setenv("STANCEBOT_MODEL", "bundled")
    s = load_settings()
    assert s.batch_size == 8 and s.model == "bundled"


def test_malformed_value_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("STANCEBOT_LOW_CONFIDENCE", "very")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "low_confidence" in str(err.value) and "STANCEBOT_LOW_CONFIDENCE" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_setting_in_dotenv_is_refused(tmp_path):
    (tmp_path / ".env").write_text("STANCEBOT_DATABSE=typo.db\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings()


def test_missing_config_file_named(monkeypatch):
    monkeypatch.setenv("STANCEBOT_CONFIG_FILE", "/nope/stancebot.toml")
    with pytest.raises(ConfigError, match="file not found"):
        load_settings()


def test_token_only_required_when_asked(monkeypatch):
    s = load_settings()
    with pytest.raises(ConfigError, match="STANCEBOT_TOKEN is not set"):
        require_token(s)
    monkeypatch.setenv("STANCEBOT_TOKEN", "abc.def")
    s = load_settings()
    assert require_token(s) == "abc.def"
    assert "abc.def" not in repr(s) and "abc.def" not in str(s.model_dump())
