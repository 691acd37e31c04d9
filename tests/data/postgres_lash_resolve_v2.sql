-- lash_resolve as schema version 2 installed it (tests migrate a version 2 schema).
CREATE OR REPLACE FUNCTION lash_resolve(
    p_key_id TEXT, p_session_id TEXT, p_scope_json TEXT, p_wait_json TEXT,
    p_turn_control BOOLEAN, p_terminal_json TEXT, p_now_ms BIGINT, p_shard INTEGER,
    p_revocation_lock TEXT, p_key_lock TEXT, p_gate_id TEXT, p_gate_lock TEXT,
    p_gate_shard INTEGER,
    OUT revoked BOOLEAN, OUT existed BOOLEAN, OUT stored_json TEXT, OUT written BOOLEAN,
    OUT rung TEXT[], OUT gate_rung TEXT[])
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- The locks of AwaitEventTables._lock_key, in its order: the session's revocation lock
    -- shared, the key's, then the turn's cancel gate's.
    PERFORM CASE WHEN p_revocation_lock IS NOT NULL
            THEN pg_advisory_xact_lock_shared(hashtextextended(p_revocation_lock, 0)) END,
        pg_advisory_xact_lock(hashtextextended(p_key_lock, 0)),
        CASE WHEN p_gate_lock IS NOT NULL
            THEN pg_advisory_xact_lock(hashtextextended(p_gate_lock, 0)) END;
    -- Each statement below reads what the locks' previous holders committed.
    SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = p_session_id),
            e.key_id IS NOT NULL, e.terminal_json
        INTO revoked, existed, stored_json
        FROM (SELECT 1) AS one LEFT JOIN await_events e ON e.key_id = p_key_id;
    written := false;
    rung := '{}';
    gate_rung := '{}';
    -- lash_core.promise.resolve_transition: a revoked session refuses, the first writer wins.
    IF revoked OR stored_json IS NOT NULL THEN
        RETURN;
    END IF;
    -- Write the terminal, count the change, forget the waiters and notify each, in one
    -- statement: the terminal rides along when it fits in a notification (the waiter skips
    -- a read).
    WITH w AS (
            INSERT INTO await_events(key_id, session_id, scope_json, wait_json, turn_control,
                terminal_json, deadline_ms, created_ms, resolved_ms)
            VALUES (p_key_id, p_session_id, p_scope_json, p_wait_json, p_turn_control,
                p_terminal_json, NULL, p_now_ms, p_now_ms)
            ON CONFLICT (key_id) DO UPDATE
            SET terminal_json = excluded.terminal_json, resolved_ms = excluded.resolved_ms),
        c AS (UPDATE changes SET n = n + 1 WHERE shard = p_shard),
        d AS (DELETE FROM waits WHERE key_id = p_key_id RETURNING address)
        SELECT coalesce(array_agg(address ORDER BY address), '{}') INTO rung
        FROM (SELECT address, pg_notify(address, CASE
            WHEN octet_length(p_key_id) + octet_length(p_terminal_json) < 7900
            THEN p_key_id || chr(10) || p_terminal_json ELSE p_key_id END) FROM d) AS n;
    written := true;
    IF p_gate_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM await_events WHERE key_id = p_gate_id AND terminal_json IS NULL
    ) THEN
        WITH c AS (UPDATE changes SET n = n + 1 WHERE shard = p_gate_shard),
            d AS (DELETE FROM waits WHERE key_id = p_gate_id RETURNING address)
            SELECT coalesce(array_agg(address ORDER BY address), '{}') INTO gate_rung
            FROM (SELECT address, pg_notify(address, p_gate_id) FROM d) AS n;
    END IF;
END
$$
