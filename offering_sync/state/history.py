"""The sync log (one row per record per run that did something to it) and the token cache.

The log answers "what happened to this offering?": operation, status, what was sent (payload
capped per row) and the error, by run. Runs prune it themselves after a retention period. The
token cache keeps vendor tokens across runs and processes, encrypted by the caller; the mint log
counts tokens minted per day against a vendor's monthly quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select

from offering_sync.state.base import aware, now
from offering_sync.state.dead_letters import DeadLettersMixin
from offering_sync.state.links import chunks
from offering_sync.state.tables import sync_log, token_mints, tokens

__all__ = ["HistoryMixin", "LogRow"]


@dataclass(frozen=True, slots=True)
class LogRow:
    """One stored sync-log row."""

    id: int
    run_id: str
    pipeline: str
    source_id: str | None
    external_id: str | None
    target_id: str | None
    operation: str
    status: str
    content_hash: str | None
    payload: str | None
    error: str | None
    created_at: datetime


class HistoryMixin(DeadLettersMixin):
    """Sync log, token cache and mint log."""

    def history(self, key: str, *, pipeline: str | None = None, limit: int = 100,
                ) -> list[LogRow]:
        """Log rows of the record whose source id or external id is ``key``, newest first."""
        query = select(sync_log).where(or_(sync_log.c.source_id == key,
                                           sync_log.c.external_id == key))
        if pipeline:
            query = query.where(sync_log.c.pipeline == pipeline)
        query = query.order_by(sync_log.c.id.desc()).limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [LogRow(**{**dict(r), "created_at": aware(r["created_at"]) or now()})
                for r in rows]

    def last_sent(self, pipeline: str, external_ids: list[str]) -> dict[str, str]:
        """The payload of each record's last successful write (for list merges)."""
        found: dict[str, str] = {}
        with self._tx() as conn:
            for chunk in chunks(list(dict.fromkeys(external_ids))):
                newest = select(func.max(sync_log.c.id)).where(
                    sync_log.c.pipeline == pipeline, sync_log.c.status == "ok",
                    sync_log.c.payload.is_not(None), sync_log.c.external_id.in_(chunk),
                ).group_by(sync_log.c.external_id).scalar_subquery()
                for ext, payload in conn.execute(select(sync_log.c.external_id,
                                                        sync_log.c.payload)
                                                 .where(sync_log.c.id.in_(newest))):
                    found[ext] = payload
        return found

    def prune_log(self, older_than_days: float) -> int:
        """Delete log rows older than the retention period; returns how many."""
        cutoff = now() - timedelta(days=older_than_days)
        with self._tx() as conn:
            return int(conn.execute(delete(sync_log).where(sync_log.c.created_at < cutoff)
                                    ).rowcount)

    def log_size(self) -> int:
        """Rows in the sync log."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(sync_log)).scalar_one())

    # -- token cache ----------------------------------------------------------------------------

    def get_token(self, key: str) -> tuple[str, datetime | None] | None:
        """The stored (encrypted) token for ``key`` and its expiry, if any."""
        with self._tx() as conn:
            row = conn.execute(select(tokens.c.ciphertext, tokens.c.expires_at)
                               .where(tokens.c.key == key)).first()
        return None if row is None else (row[0], aware(row[1]))

    def put_token(self, key: str, ciphertext: str, expires_at: datetime | None) -> None:
        """Store (replace) the encrypted token for ``key``."""
        with self._tx() as conn:
            conn.execute(delete(tokens).where(tokens.c.key == key))
            conn.execute(insert(tokens).values(key=key, ciphertext=ciphertext,
                                               expires_at=expires_at, updated_at=now()))

    def drop_token(self, key: str) -> None:
        """Forget the token for ``key`` (the vendor refused it)."""
        with self._tx() as conn:
            conn.execute(delete(tokens).where(tokens.c.key == key))

    def record_mint(self, system: str, key: str) -> None:
        """Count one token minted from a vendor's token endpoint."""
        with self._tx() as conn:
            conn.execute(insert(token_mints).values(system=system, key=key, minted_at=now()))

    def mints_since(self, system: str, since: datetime) -> int:
        """Tokens minted for ``system`` since ``since``."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(token_mints).where(
                token_mints.c.system == system, token_mints.c.minted_at >= since)).scalar_one())
