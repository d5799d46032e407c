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
from offering_sync.state.tables import dead_letters, links, sync_log, token_mints, tokens

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
        """Log rows of the record whose source id or external id is ``key``, newest first.

        The log has no index but its key (issue 16: each one costs every sync), so this reads
        the table once, newest rows first: about a second per million rows on SQLite. An
        external id also brings the rows of the source records that carried it (its link's
        and any record refused for it), whatever external id those rows hold.
        """
        keys = [key, *self._sources_of(key, pipeline)]
        where = [or_(sync_log.c.source_id.in_(keys), sync_log.c.external_id == key)]
        if pipeline:
            where.append(sync_log.c.pipeline == pipeline)
        with self._tx() as conn:
            rows = conn.execute(select(sync_log).where(*where).order_by(sync_log.c.id.desc())
                                .limit(limit)).mappings().all()
        return [LogRow(**{**dict(r), "created_at": aware(r["created_at"]) or now()})
                for r in rows]

    def _sources_of(self, external_id: str, pipeline: str | None) -> list[str]:
        """The source ids that carried ``external_id``: its link, and any record refused for it."""
        systems = pipeline.split("->", 1) if pipeline and "->" in pipeline else None
        by_link = select(links.c.source_id).where(links.c.external_id == external_id)
        if systems:
            by_link = by_link.where(links.c.source_system == systems[0],
                                    links.c.target_system == systems[1])
        by_letter = select(dead_letters.c.source_id).where(
            dead_letters.c.external_id == external_id, dead_letters.c.source_id.is_not(None))
        if pipeline:
            by_letter = by_letter.where(dead_letters.c.pipeline == pipeline)
        with self._tx() as conn:
            found = [*conn.execute(by_link).scalars(), *conn.execute(by_letter).scalars()]
        return [s for s in dict.fromkeys(found) if s != external_id]

    def last_sent(self, source: str, target: str, source_ids: list[str]) -> dict[str, str]:
        """What we last wrote of each record (canonical JSON), for list merges, by source id.

        Kept on the link by pipelines that merge (``record_batch(sent=…)``).
        """
        found: dict[str, str] = {}
        with self._tx() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                for sid, payload in conn.execute(select(links.c.source_id,
                                                        links.c.sent_payload).where(
                        links.c.source_system == source, links.c.target_system == target,
                        links.c.source_id.in_(chunk), links.c.sent_payload.is_not(None))):
                    found[sid] = payload
        return found

    def prune_log(self, older_than_days: float, *, chunk: int = 5000) -> int:
        """Delete log rows older than the retention period; returns how many.

        Rows are appended in time order, so the old ones are the first by id: the prune walks
        the primary key from the start, a chunk at a time, and stops at the first chunk that
        reaches a row inside the period. A run that finds nothing to prune reads one row (no
        index on the time is needed, and none is paid for on every row written).
        """
        cutoff = now() - timedelta(days=older_than_days)
        deleted = 0
        with self._tx() as conn:
            oldest = conn.execute(select(sync_log.c.created_at).order_by(sync_log.c.id)
                                  .limit(1)).scalar_one_or_none()
        if oldest is None or (aware(oldest) or now()) >= cutoff:
            return 0
        while True:
            with self._tx() as conn:
                head = conn.execute(select(sync_log.c.id, sync_log.c.created_at)
                                    .order_by(sync_log.c.id).limit(chunk)).all()
                old = [row_id for row_id, at in head if (aware(at) or now()) < cutoff]
                if old:
                    deleted += int(conn.execute(delete(sync_log).where(
                        sync_log.c.id <= old[-1], sync_log.c.created_at < cutoff)).rowcount)
            if len(old) < chunk:
                return deleted

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
