"""Settings: environment (STANCEBOT_*), then .env, then an optional TOML file, then defaults.

Nothing is read at import time; call load_settings(). The Discord token is optional here and
only `stancebot run` insists on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import StancebotError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE_ENV = "STANCEBOT_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("stancebot.toml")


class ConfigError(StancebotError, ValueError):
    """The configuration is invalid; the message says which setting and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STANCEBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    # Discord
    token: SecretStr | None = Field(default=None, description="Discord bot token (only for `run`)")
    guild_ids: list[int] = Field(default_factory=list, description="Guilds to sync commands to")
    sync_global: bool = False
    moderator_role_id: int | None = None
    # Sharding: unset runs one gateway connection; a count runs discord.py's AutoShardedBot
    # with that many shards, all of them in this process unless shard_ids names this
    # process's share (docs/operators.md, Scaling past one process).
    shard_count: int | None = Field(default=None, ge=1, le=4096)
    shard_ids: list[int] | None = None

    # Storage and content
    # An SQLite file, or a PostgreSQL URL (postgresql://user:password@host:5432/name)
    database: str = "stancebot.db"
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    prompts_dir: Path = PROJECT_ROOT / "prompts"

    # Model: "bundled" (the installed all-MiniLM-L6-v2 package), a local path or a Hugging Face id
    model: str = "bundled"
    nli_model: str | None = Field(
        default=None, description="NLI model for zero-shot on questions without a trained head"
    )
    heads_dir: Path | None = Field(
        default=None, description="Trained stance heads (default: shipped)"
    )
    low_confidence: float = Field(default=0.45, ge=0.0, le=1.0)
    batch_size: int = Field(default=64, ge=1, le=1024)
    batch_max_delay_ms: int = Field(default=50, ge=0, le=10_000)
    torch_threads: int = Field(
        default=0,
        ge=0,
        description="threads per classification worker (torch or ONNX Runtime); 0 = the cores "
        "divided among the workers",
    )
    quantize: bool = Field(
        default=True, description="int8 encoder: less memory (and CPU with VNNI), same macro-F1"
    )
    encoder_backend: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="what runs the encoder: auto = ONNX Runtime when installed (checked "
        "against torch at load, else torch), onnx = the same but warn when it is missing",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="where the exported ONNX encoder is cached (default ~/.cache/stancebot)",
    )
    classify_workers: int = Field(
        default=1, ge=1, le=16, description="classification batches encoded at the same time"
    )

    # Moderation model (besides the rules)
    moderation_model: bool = Field(
        default=True, description="score replies with the shipped abuse model (shares the pass)"
    )
    moderation_heads_dir: Path | None = Field(
        default=None,
        description="folder with the abuse model the bot scores with (abuse.safetensors, as "
        "`stancebot train-moderation --out DIR` writes it), and in its casual/ the casual chat "
        "style's head (default: the shipped ones)",
    )
    toxicity_model: str | None = Field(
        default=None,
        description="Detoxify-style text-classification model (local folder or Hugging Face id)",
    )

    # Moderation rules
    flood_max_replies: int = Field(default=6, ge=1)
    flood_window_seconds: int = Field(default=60, ge=1)
    max_mentions: int = Field(default=5, ge=1)
    wall_of_text_chars: int = Field(default=2500, ge=100)
    blocklist: list[str] = Field(default_factory=list)

    # Reports
    summary_weekday: int = Field(default=0, ge=0, le=6, description="0 = Monday")
    summary_hour: int = Field(default=9, ge=0, le=23, description="UTC hour")
    min_sample: int = Field(default=10, ge=1, description="Fewer participants: 'too few replies'")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("shard_ids")
    @classmethod
    def _shards_fit(cls, v: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if v is None:
            return v
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError("needs STANCEBOT_SHARD_COUNT as well")
        if not v or len(set(v)) != len(v) or not all(0 <= i < count for i in v):
            raise ValueError(f"must be distinct shard numbers from 0 to {count - 1}")
        return v

    @field_validator("database", mode="before")
    @classmethod
    def _database_text(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        toml_path = _config_file()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return (*sources, file_secret_settings)


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"{CONFIG_FILE_ENV}={explicit}: file not found; fix the path or unset it"
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one clear ConfigError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"unknown setting {name!r}: remove it or check the spelling (see .env.example)"
            ) from None
        env = f"STANCEBOT_{name.upper()}"
        raise ConfigError(f"invalid setting {name} ({env}): {first['msg']}") from None
    except ValueError as exc:  # e.g. a malformed TOML file or a list that is not JSON
        raise ConfigError(f"invalid configuration: {exc}") from None


def require_token(settings: Settings) -> str:
    if settings.token is None or not settings.token.get_secret_value().strip():
        raise ConfigError(
            "STANCEBOT_TOKEN is not set: put your bot token in .env or the environment"
        )
    return settings.token.get_secret_value().strip()
