from helpline.archive.covered import Covered, position


def test_stream_ids_compare_in_the_streams_order() -> None:
    assert position("1700000000000-2") < position("1700000000000-10") < position("1700000000001-0")


def test_an_entry_up_to_the_read_is_covered_and_a_later_one_is_not() -> None:
    covered = Covered()
    covered.add({"0-1": (0, "100-5")})
    assert covered.covers("0-1", "100-5") and covered.covers("0-1", "99-9")
    assert not covered.covers("0-1", "100-6") and not covered.covers("0-2", "1-0")


def test_coverage_is_forgotten_once_the_stream_is_read_past_it() -> None:
    covered = Covered()
    covered.add({"0-1": (0, "100-0"), "0-2": (0, "200-0"), "1-1": (1, "50-0")})
    covered.add({"0-1": (0, "300-0")})  # read again later: covered further
    covered.passed(0, "250-0")
    assert len(covered) == 2  # 0-2 forgotten; 0-1 is covered to 300; partition 1 not read yet
    assert covered.covers("0-1", "300-0") and not covered.covers("0-2", "150-0") and covered.covers("1-1", "50-0")


def test_beyond_its_limit_it_starts_over() -> None:
    covered = Covered(limit=2)
    covered.add({"0-1": (0, "1-0"), "0-2": (0, "1-0")})
    covered.add({"0-3": (0, "2-0")})
    assert len(covered) == 1 and not covered.covers("0-1", "1-0") and covered.covers("0-3", "2-0")
