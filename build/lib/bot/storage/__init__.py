"""Storage: the aiosqlite database and the repository of queries."""
