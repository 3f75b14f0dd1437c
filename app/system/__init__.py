"""The admins' System page: version, migrations, database, Redis, jobs, audit chain, key ages."""
