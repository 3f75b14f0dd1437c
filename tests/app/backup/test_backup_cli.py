"""`teamwell backup` and `teamwell restore` refusing what they must, on SQLite (no server): no
passphrase, a wrong one, an altered archive, an occupied target (unless --force), another kind
of database; and backups to a public key (`backup-keygen`, `--recipient`, `--identity`), each
refusal with its own exit code, no key material in what the commands print."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.conftest import base_env, teamwell_cli

pytestmark = pytest.mark.slow  # each command is a process of its own, migrations included

PASSPHRASE = "cli test passphrase"


def instance(root: Path, name: str) -> dict[str, str]:
    data_dir = root / name
    return base_env(data_dir, f"sqlite:///{data_dir / 'teamwell.db'}")


def run(env: dict[str, str], *args: str, passphrase: str | None = PASSPHRASE) -> tuple[int, str]:
    extra = {"TEAMWELL_BACKUP_PASSPHRASE": passphrase or ""}
    done = teamwell_cli({**env, **extra}, *args)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[dict[str, str], Path]:
    source = instance(tmp_path, "source")
    assert run(source, "migrate")[0] == 0
    archive = tmp_path / "teamwell.backup"
    code, said = run(source, "backup", str(archive))
    assert code == 0, said
    return source, archive


def test_a_backup_needs_a_passphrase_or_says_it_is_unencrypted(tmp_path: Path) -> None:
    source = instance(tmp_path, "source")
    assert run(source, "migrate")[0] == 0
    code, said = run(source, "backup", str(tmp_path / "b"), passphrase=None)
    assert code == 2 and "TEAMWELL_BACKUP_PASSPHRASE" in said and "--recipient" in said
    assert not (tmp_path / "b").exists()
    code, said = run(source, "backup", str(tmp_path / "b"), "--unencrypted")
    assert code == 2 and "choose one" in said
    code, said = run(source, "backup", str(tmp_path / "b"), "--unencrypted", passphrase=None)
    assert code == 0 and "NOT encrypted" in said
    inside = Path(source["TEAMWELL_DATA_DIR"], "backups", "b")
    code, said = run(source, "backup", str(inside))
    assert code == 1 and "outside the data directory" in said and not inside.exists()
    with tarfile.open(tmp_path / "b") as tar:
        assert tar.getnames()[0] == "manifest.json"


def test_restore_refuses_a_wrong_passphrase_and_an_occupied_target(
    tmp_path: Path, backed_up: tuple[dict[str, str], Path]
) -> None:
    source, archive = backed_up
    target = instance(tmp_path, "target")
    code, said = run(target, "restore", str(archive), passphrase="not the passphrase")
    assert code == 3 and "passphrase is wrong" in said
    code, said = run(target, "restore", str(archive), passphrase=None)
    assert code == 2 and "give its passphrase" in said
    assert not Path(target["TEAMWELL_DATA_DIR"], "teamwell.db").exists()
    # The source itself is not empty: refused, then overwritten when forced.
    code, said = run(source, "restore", str(archive))
    assert code == 5 and "not empty" in said and "--force" in said
    code, said = run(source, "restore", str(archive), "--force")
    assert code == 0, said
    code, said = run(target, "restore", str(archive))
    assert code == 0, said
    code, said = run(target, "verify-audit")
    assert code == 0 and "audit chain intact" in said


def test_restore_refuses_an_altered_archive(tmp_path: Path) -> None:
    source = instance(tmp_path, "source")
    assert run(source, "migrate")[0] == 0
    plain = tmp_path / "plain.backup"
    assert run(source, "backup", str(plain), "--unencrypted", passphrase=None)[0] == 0
    # The same archive with the database's bytes changed but its manifest kept.
    altered = tmp_path / "altered.backup"
    with tarfile.open(plain) as old, tarfile.open(altered, "w:gz") as new:
        for member in old:
            data = old.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name == "database/teamwell.db":
                content = content[:-1] + bytes([content[-1] ^ 1])
            new.addfile(member, io.BytesIO(content))
    code, said = run(instance(tmp_path, "target"), "restore", str(altered), passphrase=None)
    assert code == 4 and "database/teamwell.db does not match its checksum" in said


def test_restore_refuses_a_backup_of_another_kind_of_database(
    tmp_path: Path, backed_up: tuple[dict[str, str], Path]
) -> None:
    _source, archive = backed_up
    target = instance(tmp_path, "target")
    target["TEAMWELL_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    code, said = run(target, "restore", str(archive))
    assert code == 1 and "sqlite database and this instance uses postgresql" in said


def keygen(tmp_path: Path, name: str) -> tuple[Path, str, str]:
    """A new identity file made by the command; its path, recipient and secret line."""
    path = tmp_path / "keys" / name
    done = teamwell_cli(instance(tmp_path, "keygen"), "backup-keygen", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    secret = path.read_text().splitlines()[-1]
    assert secret.startswith("AGE-SECRET-KEY-1")
    assert secret not in done.stdout + done.stderr
    recipient = done.stdout.strip().rsplit(" ", 1)[-1]
    assert recipient.startswith("age1") and f"# public key: {recipient}" in path.read_text()
    return path, recipient, secret


def test_a_backup_to_a_public_key_opens_only_with_its_identity(tmp_path: Path) -> None:
    identity, recipient, secret = keygen(tmp_path, "restore-key.txt")
    other, _other_recipient, other_secret = keygen(tmp_path, "another-key.txt")
    code, said = run(instance(tmp_path, "keygen"), "backup-keygen", str(identity))
    assert code == 1 and "never overwritten" in said
    source = instance(tmp_path, "source")
    assert run(source, "migrate")[0] == 0
    printed = [said]
    archive = tmp_path / "teamwell.backup"
    # Backing up needs no secret: the passphrase's variable is empty here.
    code, said = run(source, "backup", str(archive), "--recipient", recipient, passphrase=None)
    printed.append(said)
    assert code == 0 and "encrypted to 1 recipient" in said, said
    assert archive.read_bytes().startswith(b"age-encryption.org/v1\n-> X25519 ")

    target = instance(tmp_path, "target")
    refusals = {
        "no identity": ((), 2, "give its identity file"),
        "another identity": (("--identity", str(other)), 3, "no identity given opens"),
        "not an identity file": (("--identity", str(tmp_path / "absent")), 2, "cannot read"),
    }
    for what, (args, expected, reason) in refusals.items():
        code, said = run(target, "restore", str(archive), *args, passphrase=None)
        printed.append(said)
        assert code == expected and reason in said, (what, said)
    assert not Path(target["TEAMWELL_DATA_DIR"], "teamwell.db").exists()

    tampered = tmp_path / "tampered.backup"
    blob = bytearray(archive.read_bytes())
    blob[len(blob) // 2] ^= 1
    tampered.write_bytes(bytes(blob))
    code, said = run(target, "restore", str(tampered), "--identity", str(identity), passphrase=None)
    printed.append(said)
    assert code == 4 and "damaged or altered" in said, said
    assert not Path(target["TEAMWELL_DATA_DIR"], "teamwell.db").exists()

    code, said = run(target, "restore", str(archive), "--identity", str(identity), passphrase=None)
    printed.append(said)
    assert code == 0, said
    code, said = run(target, "verify-audit")
    assert code == 0 and "audit chain intact" in said
    for text in printed:
        assert secret not in text and other_secret not in text


def test_backup_refuses_ambiguous_or_missing_recipients(tmp_path: Path) -> None:
    identity, recipient, secret = keygen(tmp_path, "restore-key.txt")
    source = instance(tmp_path, "source")
    assert run(source, "migrate")[0] == 0
    out = str(tmp_path / "b")
    listed = tmp_path / "recipients.txt"
    listed.write_text("# the records team\n\n")
    cases = {
        "a passphrase too": ((), PASSPHRASE, "a passphrase and recipients were given"),
        "--unencrypted too": (("--unencrypted",), None, "recipients and --unencrypted"),
        "an identity as recipient": (("--recipient", secret), None, "not an age1"),
        "a recipients file with none": (("--recipients-file", str(listed)), None, "no recipient"),
    }
    for what, (args, passphrase, reason) in cases.items():
        extra = (
            ()
            if "--recipient" in args or "--recipients-file" in args
            else ("--recipient", recipient)
        )
        code, said = run(source, "backup", out, *extra, *args, passphrase=passphrase)
        assert code == 2 and reason in said, (what, said)
        assert secret not in said
        assert not Path(out).exists()
    listed.write_text(f"# the records team\n{recipient}\n")
    code, said = run(source, "backup", out, "--recipients-file", str(listed), passphrase=None)
    assert code == 0 and "encrypted to 1 recipient" in said, said
    target = instance(tmp_path, "target")
    code, said = run(target, "restore", out, "--identity", str(identity), passphrase=None)
    assert code == 0, said
