"""stancebot: news discussions on Discord, moderated, with the community's stance reported."""

__version__ = "0.1.0"
