"""The SQL the SQLite and Postgres stores share (internal: no public names).

* :mod:`lash_sql.dialect`: what differs between the two in the statements both send
  (placeholders, inserts that ignore a conflict, boolean literals, row order), the cursor-like
  protocol both connections satisfy, and :class:`~lash_sql.dialect.Statements`, every shared
  statement's text for one dialect, built once;
* :mod:`lash_sql.tables`: the hooks a store's connection supplies (its transactions, the fence);
* :mod:`lash_sql.journal`, :mod:`lash_sql.turns`, :mod:`lash_sql.await_events`: the table mixins'
  logic that is the same on both (rows read and written around the pure rules of
  :mod:`lash_core.store`); each store keeps what genuinely differs (locks, pipelined writes,
  notifications, Postgres's one-round-trip resolve).

Standard library only (``lash_sqlite`` needs nothing else).
"""
