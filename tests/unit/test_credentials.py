from __future__ import annotations

from pathlib import Path

import pytest

from deploytool.core.errors import BadInput
from deploytool.deploy import credentials


def test_dev_generates_and_repr_never_shows_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(credentials.ENV_ACCESS, raising=False)
    creds = credentials.choose("dev", credentials.explicit("dev", None), existing={})
    assert creds and creds.source == "generated" and len(creds.secret_key) >= 24
    assert creds.secret_key not in repr(creds) and creds.access_key not in repr(creds)


def test_existing_secret_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(credentials.ENV_ACCESS, raising=False)
    kept = {credentials.ACCESS_KEY: "AK", credentials.SECRET_KEY: "SK"}
    creds = credentials.choose("prod", credentials.explicit("prod", None), existing=kept)
    assert (creds.access_key, creds.secret_key, creds.source) == ("AK", "SK", "the existing Secret")
    assert not credentials.differs(creds, kept) and credentials.differs(creds, {})


def test_prod_without_credentials_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(credentials.ENV_ACCESS, raising=False)
    monkeypatch.delenv(credentials.ENV_SECRET, raising=False)
    with pytest.raises(BadInput, match="DEPLOYTOOL_S3_ACCESS_KEY"):
        credentials.choose("prod", credentials.explicit("prod", None), existing={})


def test_environment_variables_and_default_refused_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(credentials.ENV_ACCESS, "minioadmin")
    monkeypatch.setenv(credentials.ENV_SECRET, "minioadmin")
    with pytest.raises(BadInput, match="minioadmin"):
        credentials.choose("prod", credentials.explicit("prod", None), existing={})
    creds = credentials.choose("staging", credentials.explicit("staging", None), existing={})
    assert creds and creds.source == "environment"


@pytest.mark.parametrize("text", ["access-key: AK\nsecret-key: SK\n", "access-key=AK\nsecret-key=SK\n"])
def test_credentials_file_formats(tmp_path: Path, text: str) -> None:
    path = tmp_path / "creds"
    path.write_text(text)
    creds = credentials.choose("prod", credentials.explicit("prod", path), existing={credentials.ACCESS_KEY: "old",
                                                                                      credentials.SECRET_KEY: "old"})
    assert creds and (creds.access_key, creds.secret_key) == ("AK", "SK")


def test_incomplete_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "creds"
    path.write_text("access-key: AK\n")
    with pytest.raises(BadInput, match="needs both"):
        credentials.choose("dev", credentials.explicit("dev", path), existing={})
