from bostonia.db.connection import connect, sqlite3
from bostonia.db.database import Database

__all__ = ["Database", "connect", "sqlite3"]
