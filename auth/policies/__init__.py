"""Who may do what: named policies, one module per domain, used by HTTP routes (through the
dependency aliases of ``auth.deps``), by WebSocket handlers and by services alike.

Each policy answers with a ``Decision`` (``auth.policies.decision``) that carries its reason, so a
refusal is audited with it. Where a rule must also run inside SQL for speed (a supervision link
in force, a team membership in force, a conversation's members for the group commit), the SQL
is written beside the Python predicate in the same module, and
``tests/auth/policies/test_policy_sql.py``
holds the two to the same answer on SQLite and PostgreSQL.

- ``clients``: a client's record, its item answers and risk alerts, consent across organisations
- ``accounts``: accounts, roles, the audit trail, the staff directory
- ``teams``: team membership and its confirmation, the team view, fidelity reviews
- ``supervision``: supervision links, check-ins, supervision records
- ``meetings``: who runs, joins, sees, changes a meeting
- ``messaging``: conversation membership, case threads, direct contacts
- ``plans``: which sections of a plan a client changes
- ``ips``: employer contacts (and whose a reader sees) and caseloads
- ``reports``: programme reports and evaluations
- ``benefits``: a client's benefit history and better-off calculations
"""
