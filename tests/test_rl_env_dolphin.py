"""The dolphin env without Dolphin: one clear line naming what is missing, before anything starts."""

from __future__ import annotations

import pytest

from exphil_assets.errors import UserError
from exphil_assets.rl.env_dolphin import DolphinEnv, DolphinOptions, check_dolphin_options


def test_without_dolphin_and_iso_both_options_are_named():
    with pytest.raises(UserError) as exc:
        DolphinEnv(DolphinOptions())
    msg = str(exc.value)
    assert "--dolphin PATH" in msg and "--iso PATH" in msg and "\n" not in msg


def test_without_the_iso_only_the_iso_is_named(tmp_path):
    with pytest.raises(UserError) as exc:
        check_dolphin_options(DolphinOptions(dolphin=str(tmp_path)))
    assert "--iso PATH" in str(exc.value) and "--dolphin" not in str(exc.value)


def test_a_dolphin_path_that_does_not_exist_is_named(tmp_path):
    iso = tmp_path / "melee.iso"
    iso.write_bytes(b"x")
    missing = tmp_path / "no-dolphin"
    with pytest.raises(UserError, match=f"Slippi Dolphin not found at {missing}"):
        check_dolphin_options(DolphinOptions(dolphin=str(missing), iso=str(iso)))


def test_an_iso_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(UserError, match=r"Melee ISO not found at .*nope\.iso \(--iso\)"):
        check_dolphin_options(DolphinOptions(dolphin=str(tmp_path), iso=str(tmp_path / "nope.iso")))


@pytest.mark.parametrize(
    "field, value, named",
    [("opponent", "bot:approach", "--opponent"), ("opponent", "cpu12", "--opponent"),
     ("character", "luigi2", "--character"), ("stage", "hyrule", "--stage"), ("online_delay", -1, "--online-delay")],
)  # fmt: skip
def test_bad_options_are_named_before_dolphin_starts(tmp_path, field, value, named):
    iso = tmp_path / "melee.iso"
    iso.write_bytes(b"x")
    opts = {"dolphin": str(tmp_path), "iso": str(iso), field: value}
    with pytest.raises(UserError, match=named):
        check_dolphin_options(DolphinOptions(**opts))


def test_valid_options_pass_the_checks(tmp_path):
    iso = tmp_path / "melee.iso"
    iso.write_bytes(b"x")
    check_dolphin_options(DolphinOptions(dolphin=str(tmp_path), iso=str(iso), character="mewtwo", opponent="cpu3",
                                         stage="battlefield"))  # fmt: skip
